/*
 * kafka.c - the `kafka` plugin: the kafka_consumer and kafka_producer connectors on
 * librdkafka (kafka.h lists the files). Only the descriptor lives here.
 *
 * Not unload-safe: librdkafka keeps process-wide state (its global init, OpenSSL and SASL
 * set-up, thread-local data in its threads), so once loaded the library stays mapped.
 *
 * Ownership: static data. Thread contract: tb_plugin_entry on any thread.
 */
#include "kafka.h"

static const tb_component *const components[] = {&tbp_kafka_consumer_component,
                                                 &tbp_kafka_producer_component};

static const tb_permission permissions[] = {
    TB_PERMISSION(TB_PERM_NET_CONNECT, NULL, "brokers",
                  "connects to the Kafka brokers (and to every broker they name)"),
};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .name = "kafka",
    .version = "0.1.0",
    .description = "Kafka connectors on librdkafka: consumer groups and a producer",
    .components = components,
    .component_count = sizeof components / sizeof components[0],
    .permissions = permissions,
    .permission_count = sizeof permissions / sizeof permissions[0],
};

TB_PLUGIN_ENTRY(kafka) { return &descriptor; }
