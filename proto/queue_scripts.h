/* queue_scripts.h -- the Lua scripts behind queue.c, one per state change.
 *
 * The scripts are Lua files, proto/lua/NAME.lua, one per script plus the
 * pieces they share (prelude, routing, owner_args); scripts/lua_embed.py
 * turns them into the queue_scripts[] table at build time
 * (build/gen/queue_scripts.c) and writes each script as Redis runs it to
 * build/gen/lua/, which `make lint` checks with luacheck. Each file documents
 * its arguments and answer.
 *
 * Used by queue.c only. Each script runs atomically on the Redis server
 * and reads the clock with TIME and nothing else, so worker clocks never
 * matter. queue.c loads a script once per connection owner (SCRIPT LOAD),
 * then runs it with EVALSHA and falls back to EVAL when the server answers
 * NOSCRIPT (restart, failover, SCRIPT FLUSH).
 *
 * Key names ('@FFPOOL_KEY_...@' in the Lua files) are pasted in from keys.h
 * at compile time. The scripts build the
 * name of a job's keys themselves (a claim cannot know which job it will get
 * before it runs), so all of ffpool's keys must live on one Redis node: Redis
 * Cluster is not supported.
 *
 * Every script answers an array whose first element is a status word: OK,
 * FENCED, CANCELLED, NOT_FOUND, EMPTY or AGAIN (claim only: it cleaned up
 * many dead entries and wants to be called again). The rest depends on the
 * script and is documented at the top of its file.
 *
 * Scripts that act for the worker holding a job ("owner calls") all start
 * with the same five arguments: id, owner, epoch, lease_ttl_ms,
 * retention_ms. They change nothing unless the job is RUNNING under that
 * owner and epoch. */
#ifndef FFPOOL_QUEUE_SCRIPTS_H
#define FFPOOL_QUEUE_SCRIPTS_H

/* One entry per script file (its "--! script ENUM NAME" line). */
enum queue_script {
    QUEUE_SCRIPT_SUBMIT,
    QUEUE_SCRIPT_CLAIM,
    QUEUE_SCRIPT_RENEW,
    QUEUE_SCRIPT_CHECKPOINT,
    QUEUE_SCRIPT_PROGRESS,
    QUEUE_SCRIPT_RELEASE,
    QUEUE_SCRIPT_COMPLETE,
    QUEUE_SCRIPT_FAIL,
    QUEUE_SCRIPT_CANCEL,
    QUEUE_SCRIPT_HEARTBEAT,
    QUEUE_SCRIPT_SET_PAUSED,
    QUEUE_SCRIPT_SEGMENTS,
    QUEUE_SCRIPT_WORKER_ANNOUNCE,
    QUEUE_SCRIPT_WORKER_LIST,
    QUEUE_SCRIPT_WORKER_DRAIN,
    QUEUE_SCRIPT_JOB_LIST,
    QUEUE_SCRIPT_REAP,
    QUEUE_SCRIPT_REAP_TURN,
    QUEUE_SCRIPT_COUNT
};

struct queue_script_source {
    const char *name; /* for error messages: the queue_* call it serves */
    const char *text; /* the script as Redis runs it */
};

/* Generated from proto/lua/ (scripts/lua_embed.py). */
extern const struct queue_script_source queue_scripts[QUEUE_SCRIPT_COUNT];

#endif
