/* partman: keeps the partitions of Herald's partitioned tables (notifications and
 * delivery_attempts, and any table listed in herald_partitioned) created ahead of the
 * clock, from a timer on the event loop, through schema/006's herald_partitions_ensure. */
#ifndef HERALD_COMMON_PARTMAN_H
#define HERALD_COMMON_PARTMAN_H

#include <stdbool.h>
#include <stdint.h>

#include "common/db.h"

struct event_base;
struct cfg;
typedef struct partman partman;

/* The statement: $1 this process's clock (ms), $2 the partition length (ms), $3 how far
 * ahead of the later of this clock and the database's the partitions must reach. Answers
 * one row: how many partitions it created. heraldctl migrate runs it too. */
#define PARTMAN_ENSURE_SQL "SELECT herald_partitions_ensure($1::bigint, $2::bigint, $3::bigint)"

/* partman_ahead_ms: how far ahead partitions are kept: two lengths, so the next
 * partition exists a whole length before the first key that needs it. */
int64_t partman_ahead_ms(int partition_ms);
/* partman_interval_ms: how often a process runs the statement: a quarter of a length,
 * between 250 ms and 60 s. */
int partman_interval_ms(int partition_ms);

/* partman_start: runs the statement at once and then every partman_interval_ms (every
 * second while it fails: PostgreSQL unreachable, or the schema not migrated). d and c
 * are borrowed; svc names the process in logs. Stop it with partman_stop() before
 * db_close(). */
partman *partman_start(struct event_base *base, db *d, const struct cfg *c, const char *svc);
/* partman_settled: whether the first run has finished, successfully or not. A run ends
 * within HERALD_DB_TIMEOUT_MS, so a process can wait for it at start-up (the API does,
 * before it listens) without waiting on an unreachable database for long. */
bool partman_settled(const partman *p);
/* partman_created_total: partitions this process created. */
uint64_t partman_created_total(const partman *p);
void partman_stop(partman *p);

#endif
