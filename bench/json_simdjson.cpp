/*
 * json_simdjson.cpp - simdjson's side of json_bench (the only C++ in temblor; C++17): the
 * DOM parse, an On-Demand walk that reads every field, and minified output of DOM documents,
 * behind the C functions of json_simdjson.h.
 *
 * Every record is copied once into a simdjson::padded_string (the padding simdjson needs to
 * read past the end with SIMD loads); the timed functions parse those copies, reusing one
 * parser of each kind as simdjson recommends. Errors are reported by simdjson's error codes:
 * nothing here throws.
 *
 * Ownership: a jb_simdjson owns its padded records, parsers and kept documents. Single-threaded.
 */
#include "json_simdjson.h"

#include <simdjson.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <vector>

using namespace simdjson;

struct jb_simdjson {
    std::vector<padded_string> recs;
    dom::parser dom;                      // reused by jb_sj_dom_all
    ondemand::parser od;                  // reused by jb_sj_ondemand_all
    std::vector<dom::document> docs;      // one per record, kept for the encode figure
    std::vector<dom::element> roots;
    uint64_t sink = 0;                    // what the walks read, so nothing is skipped
};

extern "C" jb_simdjson *jb_sj_new(const char *const *recs, const size_t *lens, size_t n) {
    jb_simdjson *sj = new (std::nothrow) jb_simdjson;
    if (!sj) return nullptr;
    try {
        sj->recs.reserve(n);
        for (size_t i = 0; i < n; i++) sj->recs.emplace_back(recs[i], lens[i]);
        sj->docs.resize(n);
        sj->roots.resize(n);
    } catch (const std::bad_alloc &) {
        delete sj;
        return nullptr;
    }
    return sj;
}

extern "C" void jb_sj_free(jb_simdjson *sj) { delete sj; }

#define JB_STR_(x) #x
#define JB_STR(x) JB_STR_(x)
extern "C" const char *jb_sj_version(void) { return JB_STR(SIMDJSON_VERSION); }

// The DOM parser runs the kernel libsimdjson picks for this CPU at run time; On-Demand is
// compiled into this file for the builtin kernel its compile flags allow (the build adds
// -march=native where the compiler has it: without, On-Demand is the scalar fallback).
extern "C" const char *jb_sj_implementation(void) {
    static std::string name;
    name = "DOM " + get_active_implementation()->name() +
           ", On-Demand " JB_STR(SIMDJSON_BUILTIN_IMPLEMENTATION);
    return name.c_str();
}

// Reads every value under v, as a consumer of the event would: keys and strings unescaped,
// numbers converted. Adds what it read to sink.
static error_code walk(ondemand::value v, uint64_t &sink) {
    ondemand::json_type t;
    error_code err = v.type().get(t);
    if (err) return err;
    switch (t) {
    case ondemand::json_type::object: {
        ondemand::object o;
        if ((err = v.get_object().get(o))) return err;
        for (auto field : o) {
            std::string_view key;
            ondemand::value fv;
            if ((err = field.unescaped_key().get(key))) return err;
            sink += key.size();
            if ((err = field.value().get(fv))) return err;
            if ((err = walk(fv, sink))) return err;
        }
        return SUCCESS;
    }
    case ondemand::json_type::array: {
        ondemand::array a;
        if ((err = v.get_array().get(a))) return err;
        for (auto item : a) {
            ondemand::value iv;
            if ((err = item.get(iv))) return err;
            if ((err = walk(iv, sink))) return err;
        }
        return SUCCESS;
    }
    case ondemand::json_type::string: {
        std::string_view s;
        if ((err = v.get_string().get(s))) return err;
        sink += s.size();
        return SUCCESS;
    }
    case ondemand::json_type::number: {
        ondemand::number num;
        if ((err = v.get_number().get(num))) return err;
        sink += num.is_double() ? (uint64_t)num.get_double() : num.get_uint64();
        return SUCCESS;
    }
    case ondemand::json_type::boolean: {
        bool b;
        if ((err = v.get_bool().get(b))) return err;
        sink += b;
        return SUCCESS;
    }
    case ondemand::json_type::null: {
        bool is_null;
        if ((err = v.is_null().get(is_null))) return err;
        return is_null ? SUCCESS : INCORRECT_TYPE;
    }
    }
    return INCORRECT_TYPE;
}

// One record through On-Demand: iterate, walk everything, and insist nothing trails (in
// simdjson 3.0 a document past its last structural has no current location).
static error_code ondemand_one(jb_simdjson *sj, size_t i) {
    ondemand::document doc;
    ondemand::value root;
    error_code err = sj->od.iterate(sj->recs[i]).get(doc);
    if (!err) err = doc.get_value().get(root);
    if (!err) err = walk(root, sj->sink);
    if (!err && doc.current_location().error() != OUT_OF_BOUNDS) err = TRAILING_CONTENT;
    return err;
}

extern "C" const char *jb_sj_check(jb_simdjson *sj, size_t i) {
    error_code err = sj->dom.parse_into_document(sj->docs[i], sj->recs[i]).get(sj->roots[i]);
    if (!err) err = ondemand_one(sj, i);
    return err ? error_message(err) : nullptr;
}

extern "C" size_t jb_sj_dom_all(jb_simdjson *sj) {
    size_t failed = 0;
    for (const padded_string &r : sj->recs) {
        dom::element root;
        if (sj->dom.parse(r).get(root)) failed++;
        else sj->sink += root.is_object();
    }
    return failed;
}

extern "C" size_t jb_sj_ondemand_all(jb_simdjson *sj) {
    size_t failed = 0;
    for (size_t i = 0; i < sj->recs.size(); i++) failed += ondemand_one(sj, i) != SUCCESS;
    return failed;
}

extern "C" size_t jb_sj_encode_all(jb_simdjson *sj) {
    size_t bytes = 0;
    for (const dom::element &root : sj->roots) bytes += to_string(root).size();
    return bytes;
}

extern "C" size_t jb_sj_encode_one(jb_simdjson *sj, size_t i, char *out, size_t cap) {
    std::string s = to_string(sj->roots[i]);
    std::memcpy(out, s.data(), s.size() < cap ? s.size() : cap);
    return s.size();
}
