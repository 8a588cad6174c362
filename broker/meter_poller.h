/*
 * meter_poller.h - the thread that samples the native cloud's servers every
 * metering.sample_interval seconds (local_compute_sample) and then downsamples and expires the
 * samples (nph_meter_compact: metering.raw_retention, metering.retention).
 */
#ifndef METER_POLLER_H
#define METER_POLLER_H

#include <stdint.h>

#include "local_compute.h"
#include "nph_error.h"
#include "nph_store.h"

struct meter_poller;

/* Start polling (interval in seconds, > 0); cloud is the native cloud's name for the samples
 * (may be NULL; copied). Returns NULL with err. */
struct meter_poller *meter_poller_start(struct nph_store *store, struct local_compute *compute,
                                        const char *cloud, int64_t interval, int64_t raw_keep,
                                        int64_t retention, struct nph_error *err);
/* Stop the thread (waits for a poll in progress) and free. NULL is a no-op. */
void meter_poller_stop(struct meter_poller *p);

#endif
