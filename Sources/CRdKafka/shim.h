#ifndef CLIENTELE_RDKAFKA_SHIM_H
#define CLIENTELE_RDKAFKA_SHIM_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

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

/// Calls `body` with each file descriptor this process has open (from /proc/self/fd).
static inline void clientele_for_each_fd(void (*body)(int fd, void *context), void *context) {
    DIR *directory = opendir("/proc/self/fd");
    if (directory == NULL) return;
    int own = dirfd(directory);
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
        int fd = atoi(entry->d_name);
        if (fd != own) body(fd, context);
    }
    closedir(directory);
}

/// Whether socket `fd` is bound to one of `ports` on IPv4, and (in `listening`) whether it listens.
static inline int clientele_is_broker_socket(int fd, const int *ports, int port_count, int *listening) {
    socklen_t length = sizeof(*listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, listening, &length) != 0) return 0;
    struct sockaddr_in address;
    socklen_t address_length = sizeof(address);
    if (getsockname(fd, (struct sockaddr *)&address, &address_length) != 0 || address.sin_family != AF_INET) return 0;
    for (int i = 0; i < port_count; i++) {
        if (ntohs(address.sin_port) == ports[i]) return 1;
    }
    return 0;
}

struct clientele_broker_scan {
    const int *ports;
    int port_count;
    int changed;
    int no_delay;
    int nagle;
};

static inline void clientele_disable_nagle_if_listener(int fd, void *context) {
    struct clientele_broker_scan *scan = context;
    int listening = 0;
    if (!clientele_is_broker_socket(fd, scan->ports, scan->port_count, &listening) || !listening) return;
    int on = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == 0) scan->changed++;
}

static inline void clientele_count_if_connection(int fd, void *context) {
    struct clientele_broker_scan *scan = context;
    int listening = 0;
    if (!clientele_is_broker_socket(fd, scan->ports, scan->port_count, &listening) || listening) return;
    int value = 0;
    socklen_t length = sizeof(value);
    if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, &length) != 0) return;
    if (value) scan->no_delay++; else scan->nagle++;
}

/// Turns Nagle's algorithm off on this process's listening TCP sockets bound to one of `ports`.
/// Linux copies the option into every connection accepted afterwards. librdkafka's mock cluster
/// leaves it on: a response written while the previous one is unacknowledged then waits for the
/// client's delayed ACK (about 40 ms). Returns how many listening sockets were changed.
static inline int clientele_disable_nagle_on_listeners(const int *ports, int port_count) {
    struct clientele_broker_scan scan = {ports, port_count, 0, 0, 0};
    clientele_for_each_fd(clientele_disable_nagle_if_listener, &scan);
    return scan.changed;
}

/// Counts this process's connected TCP sockets whose local port is one of `ports` (the broker side
/// of clients' connections), by whether Nagle's algorithm is off (`no_delay`) or on (`nagle`).
static inline void clientele_count_broker_connections(const int *ports, int port_count, int *no_delay, int *nagle) {
    struct clientele_broker_scan scan = {ports, port_count, 0, 0, 0};
    clientele_for_each_fd(clientele_count_if_connection, &scan);
    *no_delay = scan.no_delay;
    *nagle = scan.nagle;
}

#endif
