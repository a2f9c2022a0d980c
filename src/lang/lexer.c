/* lexer.c - one pass over a source into tokens; a small mode stack handles strings and the
 * code inside their #{...} interpolations. */
#include "lang/lexer.h"

#include "value/utf8.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const keywords[] = {
    "let", "const", "fn", "of", "match", "case", "when", "default", "end", "emit", "drop",
    "patch", "insert", "upsert", "update", "erase", "move", "copy", "merge", "for", "and", "or",
    "xor", "not", "present", "absent", "true", "false", "null", "use", "as", "with", "mod",
    "intrinsic", "recur", "event", "state", "args", "group", "window", "select", "from",
    "where", "into", "having", "by", "define", "create", "stream", "operator", "script",
    "pipeline", "connector", "flow", "deploy", "connect", "to", "set", "each",
};

static const char *const punct_names[] = {
    [TK_LPAREN] = "'('", [TK_RPAREN] = "')'", [TK_LBRACKET] = "'['", [TK_RBRACKET] = "']'",
    [TK_LBRACE] = "'{'", [TK_RBRACE] = "'}'", [TK_PCT_LBRACE] = "'%{'",
    [TK_PCT_LBRACKET] = "'%['", [TK_PCT_LPAREN] = "'%('", [TK_COMMA] = "','",
    [TK_SEMI] = "';'", [TK_COLON] = "':'", [TK_COLONCOLON] = "'::'", [TK_DOT] = "'.'",
    [TK_ELLIPSIS] = "'...'", [TK_FAT_ARROW] = "'=>'", [TK_ASSIGN] = "'='", [TK_EQ] = "'=='",
    [TK_NE] = "'!='", [TK_LT] = "'<'", [TK_LE] = "'<='", [TK_GT] = "'>'", [TK_GE] = "'>='",
    [TK_SHL] = "'<<'", [TK_SHR] = "'>>'", [TK_SHR_U] = "'>>>'", [TK_PLUS] = "'+'",
    [TK_MINUS] = "'-'", [TK_STAR] = "'*'", [TK_SLASH] = "'/'", [TK_PERCENT] = "'%'",
    [TK_AMP] = "'&'", [TK_CARET] = "'^'", [TK_TILDE] = "'~'", [TK_TILDE_EQ] = "'~='",
    [TK_DOLLAR] = "'$'", [TK_BANG] = "'!'", [TK_UNDERSCORE] = "'_'",
};

const char *tbr_tok_describe(tbr_tok kind) {
    static char kw[TK_COUNT][32];
    switch (kind) {
    case TK_EOF: return "end of input";
    case TK_IDENT: return "identifier";
    case TK_INT: return "integer";
    case TK_FLOAT: return "float";
    case TK_STR_START: return "string";
    case TK_STR_PART: return "string text";
    case TK_INTERP_START: return "'#{'";
    case TK_INTERP_END: return "'}'";
    case TK_STR_END: return "end of string";
    case TK_EXTRACTOR: return "extractor pattern";
    case TK_CONFIG_DIRECTIVE: return "'#!config'";
    default: break;
    }
    if (kind >= TK_KW_FIRST && kind <= TK_KW_LAST) {
        /* built once per kind; the strings are constant afterwards */
        if (!kw[kind][0])
            snprintf(kw[kind], sizeof kw[kind], "keyword '%s'", keywords[kind - TK_KW_FIRST]);
        return kw[kind];
    }
    if ((size_t)kind < sizeof punct_names / sizeof *punct_names && punct_names[kind])
        return punct_names[kind];
    return "token";
}

typedef enum mode { MODE_CODE, MODE_STRING, MODE_HEREDOC } mode;

typedef struct frame {
    mode m;
    int depth; /* MODE_CODE inside an interpolation: open braces */
} frame;

typedef struct lexer {
    const tbr_source *src;
    const char *s;
    uint32_t pos, len;
    tb_arena *arena;
    tbr_diags *diags;
    tbr_token *toks;
    size_t count, cap;
    frame stack[64];
    int top;
    bool failed;
    bool oom;
} lexer;

static tbr_token *push(lexer *lx, tbr_tok kind, uint32_t start, uint32_t end) {
    if (lx->count == lx->cap) {
        size_t ncap = lx->cap ? lx->cap * 2 : 256;
        tbr_token *n = realloc(lx->toks, ncap * sizeof *n);
        if (!n) {
            lx->oom = true;
            return NULL;
        }
        lx->toks = n;
        lx->cap = ncap;
    }
    tbr_token *t = &lx->toks[lx->count++];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->span.start = start;
    t->span.end = end;
    return t;
}

static void error(lexer *lx, uint32_t start, uint32_t end, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void error(lexer *lx, uint32_t start, uint32_t end, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    if (lx->failed) return;
    lx->failed = true;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tbr_diags_add(lx->diags, (tbr_span){start, end}, "%s", msg);
}

static bool ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9'); }

static tbr_tok keyword(const char *p, uint32_t n) {
    for (size_t i = 0; i < sizeof keywords / sizeof *keywords; i++)
        if (strlen(keywords[i]) == n && memcmp(keywords[i], p, n) == 0) return (tbr_tok)(TK_KW_FIRST + i);
    return TK_IDENT;
}

static void lex_ident(lexer *lx) {
    uint32_t start = lx->pos;
    while (lx->pos < lx->len && ident_char(lx->s[lx->pos])) lx->pos++;
    uint32_t n = lx->pos - start;
    tbr_tok kind = n == 1 && lx->s[start] == '_' ? TK_UNDERSCORE : keyword(lx->s + start, n);
    tbr_token *t = push(lx, kind, start, lx->pos);
    if (t) t->text = lx->s + start, t->len = n;
}

static void lex_backtick_ident(lexer *lx) {
    uint32_t start = lx->pos++;
    while (lx->pos < lx->len && lx->s[lx->pos] != '`' && lx->s[lx->pos] != '\n') lx->pos++;
    if (lx->pos >= lx->len || lx->s[lx->pos] != '`') {
        error(lx, start, lx->pos, "unterminated quoted identifier");
        return;
    }
    lx->pos++;
    tbr_token *t = push(lx, TK_IDENT, start, lx->pos);
    if (t) t->text = lx->s + start + 1, t->len = lx->pos - start - 2;
}

static void lex_number(lexer *lx) {
    uint32_t start = lx->pos;
    const char *s = lx->s;
    char digits[128];
    size_t nd = 0;
    bool is_float = false;
    if (s[lx->pos] == '0' && lx->pos + 1 < lx->len && (s[lx->pos + 1] == 'x' || s[lx->pos + 1] == 'X')) {
        lx->pos += 2;
        uint64_t v = 0;
        uint32_t first = lx->pos;
        bool overflow = false;
        while (lx->pos < lx->len) {
            char c = s[lx->pos];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c == '_' ? -2 : -1;
            if (d == -1) break;
            lx->pos++;
            if (d == -2) continue;
            if (v >> 60) overflow = true;
            v = (v << 4) | (uint64_t)d;
        }
        if (lx->pos == first) return error(lx, start, lx->pos, "hexadecimal literal without digits");
        if (overflow) return error(lx, start, lx->pos, "integer literal out of range");
        tbr_token *t = push(lx, TK_INT, start, lx->pos);
        if (t) {
            t->num.u = v;
            t->is_u64 = v > (uint64_t)INT64_MAX;
        }
        return;
    }
    /* decimal: digits with optional '_' separators, a fraction and an exponent */
    while (lx->pos < lx->len && ((s[lx->pos] >= '0' && s[lx->pos] <= '9') || s[lx->pos] == '_')) {
        if (s[lx->pos] != '_' && nd < sizeof digits - 1) digits[nd++] = s[lx->pos];
        lx->pos++;
    }
    if (lx->pos + 1 < lx->len && s[lx->pos] == '.' && s[lx->pos + 1] >= '0' && s[lx->pos + 1] <= '9') {
        is_float = true;
        if (nd < sizeof digits - 1) digits[nd++] = '.';
        lx->pos++;
        while (lx->pos < lx->len && ((s[lx->pos] >= '0' && s[lx->pos] <= '9') || s[lx->pos] == '_')) {
            if (s[lx->pos] != '_' && nd < sizeof digits - 1) digits[nd++] = s[lx->pos];
            lx->pos++;
        }
    }
    if (lx->pos < lx->len && (s[lx->pos] == 'e' || s[lx->pos] == 'E')) {
        uint32_t save = lx->pos;
        size_t save_nd = nd;
        if (nd < sizeof digits - 1) digits[nd++] = 'e';
        lx->pos++;
        if (lx->pos < lx->len && (s[lx->pos] == '+' || s[lx->pos] == '-')) {
            if (nd < sizeof digits - 1) digits[nd++] = s[lx->pos];
            lx->pos++;
        }
        if (lx->pos < lx->len && s[lx->pos] >= '0' && s[lx->pos] <= '9') {
            is_float = true;
            while (lx->pos < lx->len && s[lx->pos] >= '0' && s[lx->pos] <= '9') {
                if (nd < sizeof digits - 1) digits[nd++] = s[lx->pos];
                lx->pos++;
            }
        } else {
            lx->pos = save; /* "1e" is an integer followed by an identifier */
            nd = save_nd;
        }
    }
    if (nd >= sizeof digits - 1) return error(lx, start, lx->pos, "number literal too long");
    digits[nd] = '\0';
    if (lx->pos < lx->len && ident_start(s[lx->pos]))
        return error(lx, start, lx->pos + 1, "invalid number literal");
    if (is_float) {
        errno = 0;
        double d = strtod(digits, NULL);
        if (errno == ERANGE && isinf(d)) return error(lx, start, lx->pos, "float literal out of range");
        tbr_token *t = push(lx, TK_FLOAT, start, lx->pos);
        if (t) t->num.f = d;
        return;
    }
    errno = 0;
    unsigned long long v = strtoull(digits, NULL, 10);
    if (errno == ERANGE) return error(lx, start, lx->pos, "integer literal out of range");
    tbr_token *t = push(lx, TK_INT, start, lx->pos);
    if (t) {
        t->num.u = v;
        t->is_u64 = v > (unsigned long long)INT64_MAX;
    }
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}


/* Lexes string text up to the closing quote(s) or an interpolation, as STR_PART tokens. */
static void lex_string_text(lexer *lx, bool heredoc) {
    const char *s = lx->s;
    uint32_t start = lx->pos;
    /* decoded text is never longer than its source */
    char *out = NULL;
    size_t n = 0;
    bool copy = false;
    while (lx->pos < lx->len) {
        char c = s[lx->pos];
        if (!heredoc && c == '"') break;
        if (heredoc && c == '"' && lx->pos + 2 < lx->len + 0 && s[lx->pos + 1] == '"' && s[lx->pos + 2] == '"') break;
        if (c == '#' && lx->pos + 1 < lx->len && s[lx->pos + 1] == '{') break;
        if (!heredoc && c == '\n') {
            uint32_t open = start;
            for (size_t i = lx->count; i-- > 0;)
                if (lx->toks[i].kind == TK_STR_START) {
                    open = lx->toks[i].span.start;
                    break;
                }
            return error(lx, open, lx->pos, "unterminated string (use \"\"\" for text over several lines)");
        }
        if (c == '\\') {
            if (!copy) {
                out = tb_arena_alloc(lx->arena, (lx->len - start) + 1, 1);
                if (!out) {
                    lx->oom = true;
                    return;
                }
                memcpy(out, s + start, lx->pos - start);
                n = lx->pos - start;
                copy = true;
            }
            uint32_t esc = lx->pos;
            if (lx->pos + 1 >= lx->len) break;
            char e = s[lx->pos + 1];
            lx->pos += 2;
            switch (e) {
            case 'n': out[n++] = '\n'; break;
            case 't': out[n++] = '\t'; break;
            case 'r': out[n++] = '\r'; break;
            case 'b': out[n++] = '\b'; break;
            case 'f': out[n++] = '\f'; break;
            case '\\': out[n++] = '\\'; break;
            case '"': out[n++] = '"'; break;
            case '/': out[n++] = '/'; break;
            case '#': out[n++] = '#'; break;
            case '{': out[n++] = '{'; break;
            case '}': out[n++] = '}'; break;
            case 'u': {
                uint32_t cp = 0;
                for (int i = 0; i < 4; i++) {
                    int h = lx->pos < lx->len ? hexval(s[lx->pos]) : -1;
                    if (h < 0) return error(lx, esc, lx->pos, "invalid \\u escape: expected four hex digits");
                    cp = cp << 4 | (uint32_t)h;
                    lx->pos++;
                }
                if (cp >= 0xD800 && cp <= 0xDBFF && lx->pos + 5 < lx->len && s[lx->pos] == '\\' && s[lx->pos + 1] == 'u') {
                    uint32_t lo = 0;
                    bool ok = true;
                    for (int i = 0; i < 4; i++) {
                        int h = hexval(s[lx->pos + 2 + (uint32_t)i]);
                        if (h < 0) ok = false;
                        lo = lo << 4 | (uint32_t)(h < 0 ? 0 : h);
                    }
                    if (ok && lo >= 0xDC00 && lo <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        lx->pos += 6;
                    }
                }
                if (cp >= 0xD800 && cp <= 0xDFFF) return error(lx, esc, lx->pos, "invalid \\u escape: unpaired surrogate");
                n += tbr_utf8_put(out + n, cp);
                break;
            }
            default: return error(lx, esc, lx->pos, "invalid escape '\\%.1s' in string", &s[esc + 1]);
            }
            continue;
        }
        if (copy) out[n++] = c;
        lx->pos++;
    }
    if (lx->pos > start) {
        tbr_token *t = push(lx, TK_STR_PART, start, lx->pos);
        if (t) {
            t->text = copy ? out : s + start;
            t->len = copy ? (uint32_t)n : lx->pos - start;
        }
    }
}

static bool push_mode(lexer *lx, mode m, uint32_t at) {
    if (lx->top + 1 >= (int)(sizeof lx->stack / sizeof *lx->stack)) {
        error(lx, at, at + 1, "strings nested too deeply in interpolations");
        return false;
    }
    lx->stack[++lx->top] = (frame){m, 0};
    return true;
}

/* In string mode: text, then an interpolation start or the closing quote. */
static void lex_in_string(lexer *lx) {
    bool heredoc = lx->stack[lx->top].m == MODE_HEREDOC;
    lex_string_text(lx, heredoc);
    if (lx->failed || lx->oom) return;
    if (lx->pos >= lx->len) {
        uint32_t open = lx->pos;
        for (size_t i = lx->count; i-- > 0;)
            if (lx->toks[i].kind == TK_STR_START) {
                open = lx->toks[i].span.start;
                break;
            }
        return error(lx, open, open + 1, "unterminated string");
    }
    if (lx->s[lx->pos] == '#') { /* #{ */
        push(lx, TK_INTERP_START, lx->pos, lx->pos + 2);
        lx->pos += 2;
        push_mode(lx, MODE_CODE, lx->pos);
        return;
    }
    uint32_t q = heredoc ? 3 : 1;
    tbr_token *t = push(lx, TK_STR_END, lx->pos, lx->pos + q);
    if (t) t->heredoc = heredoc;
    lx->pos += q;
    lx->top--;
}

static void lex_extractor(lexer *lx) {
    uint32_t start = lx->pos++;
    uint32_t body = lx->pos;
    bool escaped = false;
    while (lx->pos < lx->len && lx->s[lx->pos] != '|') {
        if (lx->s[lx->pos] == '\\' && lx->pos + 1 < lx->len && lx->s[lx->pos + 1] == '|') {
            escaped = true;
            lx->pos++;
        }
        lx->pos++;
    }
    if (lx->pos >= lx->len) return error(lx, start, start + 1, "unterminated extractor pattern: expected a closing '|'");
    uint32_t end = lx->pos++;
    tbr_token *t = push(lx, TK_EXTRACTOR, start, lx->pos);
    if (!t) return;
    if (!escaped) {
        t->text = lx->s + body;
        t->len = end - body;
        return;
    }
    char *out = tb_arena_alloc(lx->arena, end - body + 1, 1);
    if (!out) {
        lx->oom = true;
        return;
    }
    uint32_t n = 0;
    for (uint32_t i = body; i < end; i++) {
        if (lx->s[i] == '\\' && i + 1 < end && lx->s[i + 1] == '|') i++;
        out[n++] = lx->s[i];
    }
    t->text = out;
    t->len = n;
}

/* Whether '|' here opens an extractor pattern: it follows `~ kind` or `~= kind`. */
static bool extractor_expected(const lexer *lx) {
    return lx->count >= 2 && lx->toks[lx->count - 1].kind == TK_IDENT &&
           (lx->toks[lx->count - 2].kind == TK_TILDE || lx->toks[lx->count - 2].kind == TK_TILDE_EQ);
}

static void lex_code(lexer *lx) {
    const char *s = lx->s;
    char c = s[lx->pos];
    char d = lx->pos + 1 < lx->len ? s[lx->pos + 1] : '\0';
    char e = lx->pos + 2 < lx->len ? s[lx->pos + 2] : '\0';
    uint32_t start = lx->pos;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        lx->pos++;
        return;
    }
    if (c == '#') {
        if (d == '!' && lx->len - lx->pos >= 8 && memcmp(s + lx->pos, "#!config", 8) == 0) {
            push(lx, TK_CONFIG_DIRECTIVE, start, start + 8);
            lx->pos += 8;
            return;
        }
        while (lx->pos < lx->len && s[lx->pos] != '\n') lx->pos++;
        return;
    }
    if (ident_start(c)) return lex_ident(lx);
    if (c == '`') return lex_backtick_ident(lx);
    if (c >= '0' && c <= '9') return lex_number(lx);
    if (c == '"') {
        bool heredoc = d == '"' && e == '"';
        if (heredoc) {
            /* a heredoc's text starts on the line after the opening quotes */
            uint32_t p = lx->pos + 3;
            while (p < lx->len && (s[p] == ' ' || s[p] == '\t' || s[p] == '\r')) p++;
            if (p >= lx->len || s[p] != '\n')
                return error(lx, start, start + 3, "a heredoc's text must start on the next line after \"\"\"");
            tbr_token *t = push(lx, TK_STR_START, start, start + 3);
            if (t) t->heredoc = true;
            lx->pos = p + 1;
            push_mode(lx, MODE_HEREDOC, start);
            return;
        }
        push(lx, TK_STR_START, start, start + 1);
        lx->pos++;
        push_mode(lx, MODE_STRING, start);
        return;
    }
    if (c == '|' && extractor_expected(lx)) return lex_extractor(lx);
    /* interpolation braces */
    if (c == '{' && lx->top > 0) lx->stack[lx->top].depth++;
    if (c == '}' && lx->top > 0) {
        if (lx->stack[lx->top].depth == 0) {
            push(lx, TK_INTERP_END, start, start + 1);
            lx->pos++;
            lx->top--;
            return;
        }
        lx->stack[lx->top].depth--;
    }
    tbr_tok kind;
    uint32_t n = 1;
    switch (c) {
    case '(': kind = TK_LPAREN; break;
    case ')': kind = TK_RPAREN; break;
    case '[': kind = TK_LBRACKET; break;
    case ']': kind = TK_RBRACKET; break;
    case '{': kind = TK_LBRACE; break;
    case '}': kind = TK_RBRACE; break;
    case ',': kind = TK_COMMA; break;
    case ';': kind = TK_SEMI; break;
    case '$': kind = TK_DOLLAR; break;
    case '+': kind = TK_PLUS; break;
    case '-': kind = TK_MINUS; break;
    case '*': kind = TK_STAR; break;
    case '/': kind = TK_SLASH; break;
    case '&': kind = TK_AMP; break;
    case '^': kind = TK_CARET; break;
    case '%':
        kind = d == '{' ? (n = 2, TK_PCT_LBRACE) : d == '[' ? (n = 2, TK_PCT_LBRACKET) : d == '(' ? (n = 2, TK_PCT_LPAREN) : TK_PERCENT;
        break;
    case ':': kind = d == ':' ? (n = 2, TK_COLONCOLON) : TK_COLON; break;
    case '.': kind = d == '.' && e == '.' ? (n = 3, TK_ELLIPSIS) : TK_DOT; break;
    case '=': kind = d == '>' ? (n = 2, TK_FAT_ARROW) : d == '=' ? (n = 2, TK_EQ) : TK_ASSIGN; break;
    case '!': kind = d == '=' ? (n = 2, TK_NE) : TK_BANG; break;
    case '<': kind = d == '=' ? (n = 2, TK_LE) : d == '<' ? (n = 2, TK_SHL) : TK_LT; break;
    case '>':
        kind = d == '=' ? (n = 2, TK_GE) : d == '>' ? (e == '>' ? (n = 3, TK_SHR_U) : (n = 2, TK_SHR)) : TK_GT;
        break;
    case '~': kind = d == '=' ? (n = 2, TK_TILDE_EQ) : TK_TILDE; break;
    default: {
        char what[8];
        snprintf(what, sizeof what, "%c", c >= 0x20 && c < 0x7f ? c : '?');
        return error(lx, start, start + 1, "unexpected character '%s'", what);
    }
    }
    push(lx, kind, start, start + n);
    lx->pos += n;
}

int tbr_lex(const tbr_source *src, tb_arena *arena, tbr_tokens *out, tbr_diags *diags) {
    lexer lx = {.src = src, .s = src->text, .len = (uint32_t)src->len, .arena = arena, .diags = diags};
    lx.stack[0] = (frame){MODE_CODE, 0};
    while (lx.pos < lx.len && !lx.failed && !lx.oom) {
        if (lx.stack[lx.top].m == MODE_CODE) lex_code(&lx);
        else lex_in_string(&lx);
    }
    if (!lx.failed && !lx.oom && lx.top > 0) {
        uint32_t open = lx.len;
        for (size_t i = lx.count; i-- > 0;)
            if (lx.toks[i].kind == TK_STR_START || lx.toks[i].kind == TK_INTERP_START) {
                open = lx.toks[i].span.start;
                break;
            }
        error(&lx, open, open + 1, "unterminated string");
    }
    /* errors at the end of input point just after the last token, not at trailing blanks */
    uint32_t eof_at = lx.count ? lx.toks[lx.count - 1].span.end : 0;
    if (lx.failed) eof_at = lx.len;
    push(&lx, TK_EOF, eof_at, eof_at);
    out->items = lx.toks;
    out->count = lx.count;
    if (lx.oom) return TB_ENOMEM;
    return lx.failed ? TB_EINVAL : TB_OK;
}

void tbr_tokens_free(tbr_tokens *t) {
    free(t->items);
    t->items = NULL;
    t->count = 0;
}
