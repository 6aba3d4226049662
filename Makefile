# ffpool -- build, test and benchmark.
#
#   make            build everything into build/
#   make test       unit + end-to-end tests against real Redis, libav and nng
#   make asan       the same tests under AddressSanitizer + UBSan (+ LSan), in build/asan
#   make demo       bring a local pool up, transcode, kill a worker, show the takeover
#   make bench      benchmarks against the ffmpeg CLI (results go to BENCHMARKS.md)
#   make fmt / lint clang-format / cppcheck
#
# Layout: proto/ is a static library (contract: job spec, wire, Redis keys and
# queue, config, logging) that every program links; worker/, scheduler/ and
# shim/ each hold one program's own files. Every file named main.c (or ctl.c)
# is a program's entry point; everything else is linked into the tests too.
# worker/pipeline/ is the worker's libav pipeline: only its files (and
# worker/pipeline_caps.c, the worker's list of libav capabilities) get the
# libav compiler flags.

VERSION := 0.1.0
BUILD ?= build
CC ?= cc

LIBAV_PKGS := libavformat libavcodec libavfilter libavdevice libswscale libswresample libpostproc libavutil
LIBAV_CFLAGS := $(shell pkg-config --cflags $(LIBAV_PKGS) 2>/dev/null)
PKG_CFLAGS := $(shell pkg-config --cflags hiredis yaml-0.1 libprotobuf-c zlib 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(LIBAV_PKGS) hiredis yaml-0.1 libprotobuf-c zlib 2>/dev/null)

CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Wno-format-truncation \
          -Wno-format-zero-length -pthread \
          -DFFPOOL_VERSION='"$(VERSION)"' -Iproto -I$(BUILD)/gen -Iworker -Iworker/pipeline -Ishim \
          -Ischeduler $(PKG_CFLAGS)
LDLIBS += $(PKG_LIBS) -lnng -lpthread -lm

ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

GEN := $(BUILD)/gen/ffpool.pb-c.c
# The queue's Lua scripts (proto/lua/*.lua), as C strings and as the files
# Redis runs (for luacheck and redis-cli --eval).
LUA_SRC := $(wildcard proto/lua/*.lua)
LUA_GEN := $(BUILD)/gen/queue_scripts.c
PROTO_SRC := $(wildcard proto/*.c) $(GEN) $(LUA_GEN)
# The pipeline's own files, and the others that call libav.
PIPELINE_SRC := $(wildcard worker/pipeline/*.c)
LIBAV_SRC := $(PIPELINE_SRC) worker/pipeline_caps.c
WORKER_SRC := $(filter-out worker/main.c,$(wildcard worker/*.c)) $(PIPELINE_SRC)
SCHED_SRC := $(filter-out scheduler/main.c scheduler/ctl.c,$(wildcard scheduler/*.c))
SHIM_SRC := $(filter-out shim/main.c,$(wildcard shim/*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(patsubst $(BUILD)/%,%,$(1)))

LIB := $(BUILD)/libffpool.a
LIB_OBJ := $(call obj,$(PROTO_SRC))
WORKER_OBJ := $(call obj,$(WORKER_SRC))
SCHED_OBJ := $(call obj,$(SCHED_SRC))
SHIM_OBJ := $(call obj,$(SHIM_SRC))
PIPELINE_OBJ := $(call obj,$(PIPELINE_SRC))

# libav's flags reach only the files that may call it.
$(call obj,$(LIBAV_SRC)): CFLAGS += $(LIBAV_CFLAGS)

BINS := $(BUILD)/bin/ffpool-worker $(BUILD)/bin/ffpool-scheduler $(BUILD)/bin/ffpool-shim \
        $(BUILD)/bin/ffpoolctl
TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
# Fixture makers the tests run (tests/tool_NAME.c -> $(BUILD)/tests/tools/NAME).
TOOLS := $(patsubst tests/tool_%.c,$(BUILD)/tests/tools/%,$(wildcard tests/tool_*.c))

.PHONY: all test asan demo bench fmt lint clean tests fuzz fuzz-smoke
all: $(BINS) $(BUILD)/jellyfin/ffmpeg $(BUILD)/jellyfin/ffprobe

$(BUILD)/gen/ffpool.pb-c.c $(BUILD)/gen/ffpool.pb-c.h: proto/ffpool.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen proto/ffpool.proto

$(LUA_GEN): $(LUA_SRC) scripts/lua_embed.py proto/keys.h
	@mkdir -p $(BUILD)/gen/lua
	python3 scripts/lua_embed.py --keys proto/keys.h --c $@ --lua-dir $(BUILD)/gen/lua $(LUA_SRC)

# Every object depends on the generated header so that it exists first.
$(BUILD)/obj/%.o: %.c $(BUILD)/gen/ffpool.pb-c.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/bin/ffpool-worker: $(call obj,worker/main.c) $(WORKER_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/bin/ffpool-scheduler: $(call obj,scheduler/main.c) $(SCHED_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/bin/ffpoolctl: $(call obj,scheduler/ctl.c) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/bin/ffpool-shim: $(call obj,shim/main.c) $(SHIM_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Jellyfin finds ffprobe by replacing the file name of its ffmpeg path, so
# both names must sit in one folder; the shim tells them apart by argv[0].
$(BUILD)/jellyfin/ffmpeg $(BUILD)/jellyfin/ffprobe: $(BUILD)/bin/ffpool-shim
	@mkdir -p $(dir $@)
	ln -sf ../bin/ffpool-shim $@

# criterion talks to its workers through libnanomsg's nn_* functions, and
# libnng exports a compatibility layer under the same names: libnanomsg must
# come first so that criterion gets the library it was built against.
# Tests share helpers in tests/*_test_lib.h: a change to one rebuilds them all.
$(BUILD)/tests/%: tests/%.c $(wildcard tests/*.h) $(WORKER_OBJ) $(SCHED_OBJ) $(SHIM_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(filter-out %.h,$^) -lcriterion -lnanomsg $(LDLIBS) -o $@

$(BUILD)/tests/tools/%: tests/tool_%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LIBAV_CFLAGS) $(LDFLAGS) $< $(LDLIBS) -o $@

tests: $(TESTS) $(TOOLS)

# Benchmarks: tests/bench_NAME.c -> $(BUILD)/bench/NAME, driven by scripts/bench/*.sh.
$(BUILD)/bench/%: tests/bench_%.c tests/bench_lib.h $(WORKER_OBJ) $(SCHED_OBJ) $(SHIM_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(filter-out %.h,$^) $(LDLIBS) -o $@

# Fuzz targets: tests/fuzz/fuzz_NAME.c -> build/fuzz/NAME, libFuzzer + ASan/UBSan,
# built with clang in their own tree (their objects differ from the others).
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/fuzz_%.c,build/fuzz/%,$(FUZZ_SRC))
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -pthread \
              -DFFPOOL_VERSION='"$(VERSION)"' -Iproto -Ibuild/gen -Iworker -Ishim -Ischeduler \
              $(PKG_CFLAGS)
build/fuzz/%: tests/fuzz/fuzz_%.c $(GEN) $(filter-out $(GEN),$(PROTO_SRC)) $(SHIM_SRC) $(SCHED_SRC)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) $< $(filter-out $<,$(filter %.c,$^)) $(PKG_LIBS) -lnng -lpthread -lm -o $@
fuzz: $(FUZZ_BINS)
# A short run of every fuzz target over its committed corpus (CI).
fuzz-smoke: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do n=$$(basename $$f); mkdir -p build/fuzz/corpus-$$n; \
	  echo "fuzz $$n"; $$f -max_total_time=$${FUZZ_SECONDS:-20} -print_final_stats=0 \
	  build/fuzz/corpus-$$n tests/fuzz/corpus/$$n || exit 1; done

# The README's test command. scripts/test.sh installs what is missing, starts
# its own redis-server and runs every test binary plus the end-to-end tests.
test:
	scripts/deps.sh
	$(MAKE) all tests
	BUILD=$(BUILD) scripts/test.sh

asan:
	$(MAKE) BUILD=build/asan SAN=1 test

demo:
	scripts/deps.sh
	$(MAKE) all
	scripts/demo.sh

bench:
	scripts/deps.sh
	$(MAKE) all
	scripts/bench.sh

fmt:
	clang-format -i proto/*.[ch] worker/*.[ch] worker/pipeline/*.[ch] scheduler/*.[ch] shim/*.[ch] \
	  tests/*.[ch]

# cppcheck and luacheck, then scripts/callgraph.sh: the pipeline's files
# must call each other one way only (no file-level cycle), read from their
# objects.
lint: $(LUA_GEN) $(PIPELINE_OBJ) $(call obj,worker/pipeline_caps.c)
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --suppress=missingIncludeSystem --inline-suppr -Iproto -Iworker -Iworker/pipeline -Ishim \
	  -Ischeduler proto worker scheduler shim
	luacheck --quiet --config proto/lua/.luacheckrc $(BUILD)/gen/lua/*.lua
	BUILD=$(BUILD) scripts/callgraph.sh -q

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
