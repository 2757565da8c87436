#ifndef CLIENTELE_RDKAFKA_SHIM_H
#define CLIENTELE_RDKAFKA_SHIM_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/// Non-variadic wrapper of rd_kafka_producev (Swift cannot call variadic C functions).
/// The payload and key are copied. `headers` may be NULL; on success librdkafka owns it,
/// on failure the caller still does. A NULL `payload` produces a tombstone.
static inline rd_kafka_resp_err_t clientele_produce(
    rd_kafka_t *rk, const char *topic, int32_t partition,
    const void *key, size_t key_len,
    const void *payload, size_t payload_len,
    rd_kafka_headers_t *headers, void *msg_opaque) {
    if (headers != NULL) {
        return rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)payload, payload_len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
            RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
    }
    return rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)payload, payload_len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
}

/// rd_kafka_mock_push_request_errors is variadic; this forwards to the array form.
static inline void clientele_mock_push_request_errors(
    rd_kafka_mock_cluster_t *mcluster, int16_t api_key, size_t count,
    const rd_kafka_resp_err_t *errors) {
    rd_kafka_mock_push_request_errors_array(mcluster, api_key, count, errors);
}

#endif
