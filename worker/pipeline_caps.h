/* pipeline_caps.h -- this worker's libav capabilities, for the pool's
 * answer to Jellyfin's probes. See pipeline_caps.c. */
#ifndef FFPOOL_WORKER_PIPELINE_CAPS_H
#define FFPOOL_WORKER_PIPELINE_CAPS_H

#include <stddef.h>
#include <stdint.h>

#include "ffpool.pb-c.h"

/* Returns a malloc'd packed ffpool.Capabilities message and its length, or
 * NULL on allocation failure. Points libav's process-wide log callback at
 * itself while it runs (then back to libav's default): call it while no
 * other thread of the process uses libav, as the worker does at start. */
uint8_t *pipeline_capabilities_pack(size_t *len);

/* The same, with the device types this worker opened (hw_device_probe) in
 * Capabilities.devices, what routes hardware jobs to it, and what its ffmpeg
 * CLI offers (cli_caps_probe) in Capabilities.cli, what routes CLI jobs to
 * it (NULL: it runs none). */
uint8_t *pipeline_capabilities_pack_devices(size_t *len, char (*devices)[32], int n_devices,
                                            const Ffpool__CliInfo *cli);

#endif
