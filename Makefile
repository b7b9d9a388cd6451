# vaultvol userspace build, tests, demo, bench and packages.
# `make` builds build/vaultvol and dm-quiesce for every installed kernel with
# headers; `make check` is what CI runs (see README.md).

B        ?= build
SAN      ?=
PKGS     := libcryptsetup devmapper blkid mount libcurl json-c openssl libsystemd
CC       ?= cc
VERSION  := 0.2.0

WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
CFLAGS   ?= -O2 -g
ALL_CFLAGS := -std=gnu11 -D_GNU_SOURCE -fPIC $(WARN) $(CFLAGS) \
	-DVV_VERSION='"$(VERSION)"' -I. $(shell pkg-config --cflags $(PKGS))
LIBS     := $(shell pkg-config --libs $(PKGS)) -lpthread
ifeq ($(SAN),1)
ALL_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -O1
LDSAN    := -fsanitize=address,undefined
endif

# One archive per top folder; agent/ is built from its root and every
# capability folder below it, so a new file needs no Makefile line.
BASE_SRC  := $(sort $(wildcard base/*.c))
VAULT_SRC := $(sort $(wildcard vault/*.c))
AGENT_SRC := $(sort $(filter-out agent/main.c,$(wildcard agent/*.c agent/*/*.c)))
# The libcryptsetup token plugin (plugin/): its own shared object.
PLUGIN_SRC := $(sort $(wildcard plugin/*.c))
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
SUPP_SRC  := $(sort $(wildcard tests/unit/support/*.c))

BASE_OBJ  := $(BASE_SRC:%.c=$(B)/%.o)
VAULT_OBJ := $(VAULT_SRC:%.c=$(B)/%.o)
AGENT_OBJ := $(AGENT_SRC:%.c=$(B)/%.o)
SUPP_OBJ  := $(SUPP_SRC:%.c=$(B)/%.o)
PLUGIN_OBJ := $(PLUGIN_SRC:%.c=$(B)/%.o)
PLUGIN_SO := $(B)/libcryptsetup-token-vaultvol.so
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
# Small programs the guest scenarios use (built on our libraries).
VMTOOL_SRC := $(sort $(wildcard tests/vm/tools/*.c))
VMTOOL_BIN := $(VMTOOL_SRC:tests/vm/tools/%.c=$(B)/vm-tools/%)

KVERS    := $(notdir $(patsubst %/build/Makefile,%,$(wildcard /lib/modules/*/build/Makefile)))
KMODS    := $(KVERS:%=$(B)/kmod/%/dmtarget/dm-quiesce.ko)

.PHONY: all userspace module unit unit-asan check deps vm-test vm-suite system-test bench demo packages clean faults \
	fuzz fuzz-build fuzz-replay
.DELETE_ON_ERROR:

all: userspace module

userspace: $(B)/vaultvol $(B)/libbase.a $(B)/libvault.a $(B)/libagent.a $(PLUGIN_SO) $(VMTOOL_BIN)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/libbase.a: $(BASE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/libvault.a: $(VAULT_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/libagent.a: $(AGENT_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/libplugin.a: $(PLUGIN_OBJ)
	@rm -f $@
	ar rcs $@ $^

# libcryptsetup-token-vaultvol.so: the plugin over the same archives as
# vaultvol (objects taken as needed; every object is -fPIC). The version
# script exports the token ABI and nothing else, so the plugin's copies of
# our functions never interpose on a host's (vaultvol loads it too, when
# libcryptsetup validates a token it writes). -z defs: nothing unresolved.
$(PLUGIN_SO): $(B)/libplugin.a $(B)/libagent.a $(B)/libvault.a $(B)/libbase.a plugin/token.map
	$(CC) -shared $(LDSAN) $(LDFLAGS) -Wl,--version-script=plugin/token.map -Wl,-z,defs \
		-Wl,--as-needed -o $@ -Wl,--whole-archive $(B)/libplugin.a -Wl,--no-whole-archive \
		$(B)/libagent.a $(B)/libvault.a $(B)/libbase.a $(LIBS)

# Commands register themselves in a linker section, so every agent object is
# linked in directly rather than picked from the archive on demand.
$(B)/vaultvol: $(B)/agent/main.o $(AGENT_OBJ) $(B)/libvault.a $(B)/libbase.a
	$(CC) $(LDSAN) $(LDFLAGS) -o $@ $(B)/agent/main.o $(AGENT_OBJ) $(B)/libvault.a $(B)/libbase.a $(LIBS)

$(B)/tests/%: tests/unit/%.c $(SUPP_OBJ) $(B)/libplugin.a $(B)/libagent.a $(B)/libvault.a $(B)/libbase.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDSAN) -o $@ $< $(SUPP_OBJ) $(B)/libplugin.a \
		-Wl,--whole-archive $(B)/libagent.a -Wl,--no-whole-archive \
		$(B)/libvault.a $(B)/libbase.a $(LIBS) -lcmocka

$(B)/vm-tools/%: tests/vm/tools/%.c $(B)/libagent.a $(B)/libvault.a $(B)/libbase.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDSAN) -o $@ $< $(B)/libagent.a $(B)/libvault.a $(B)/libbase.a $(LIBS)

# tests/suites/heap-wipe.sh: the LD_PRELOAD free() scanner, and vaultvol
# linked with the wiping allocators turned off (to show the scan can fail).
$(B)/tests/heapscan.so: tests/heapscan/heapscan.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -shared -o $@ $< -ldl

$(B)/tests/wipe_alloc_off.o: base/wipe_alloc.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DVV_WIPE_ALLOC_OFF -c -o $@ $<

$(B)/tests/vaultvol-nowipe: $(B)/agent/main.o $(AGENT_OBJ) $(B)/tests/wipe_alloc_off.o $(B)/libvault.a $(B)/libbase.a
	$(CC) $(LDSAN) $(LDFLAGS) -o $@ $(B)/agent/main.o $(AGENT_OBJ) $(B)/tests/wipe_alloc_off.o \
		$(B)/libvault.a $(B)/libbase.a $(LIBS)

module: $(KMODS)

$(B)/kmod/%/dmtarget/dm-quiesce.ko: Kbuild $(wildcard dmtarget/*.c dmtarget/*.h dmtarget/*.sh dmtarget/Kbuild)
	+dmtarget/build.sh $* $(B)/kmod/$*

unit: $(UNIT_BIN) $(B)/vaultvol $(PLUGIN_SO)
	tests/unit/run.sh $(B)

unit-asan:
	$(MAKE) B=build-asan SAN=1 unit

deps:
	tests/deps.sh

check:
	tests/check.sh

vm-test: all
	tests/vm/run.sh $(if $(K),--kernel $(K)) $(T)

vm-suite: all
	tests/vm/run.sh --suite

# The system tier (tests/system): a real Debian 12 booted under QEMU.
# T=NAME [K=6.12]: one scenario; K alone: every scenario on that kernel;
# neither: the suite (each scenario on the kernels it names), as make check.
system-test: all
	tests/system/run.sh $(if $(K),--kernel $(K)) $(if $(T),$(T),$(if $(K),,--suite))

bench: all
	bench/run.sh

# The fault matrix (tests/faults/, docs/faults.md): every fault x command
# cell with its measured verdict, and the table. make check runs ten cells.
faults: all
	tests/faults/run.sh --guest

demo:
	tests/deps.sh
	$(MAKE) all
	tests/vm/demo.sh

packages: all
	packaging/build-all.sh

# ---- fuzzing: libFuzzer harnesses (tests/fuzz/), clang + ASan + UBSan ----
# A separate object dir built by clang: the gcc build above is untouched.
FZ        := build-fuzz
FZ_CC     := clang
FUZZ_S    ?= 60
FUZZ_FRESH_S ?= 10
FZ_CFLAGS := -std=gnu11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
	$(WARN) -DVV_VERSION='"$(VERSION)"' -I. $(shell pkg-config --cflags $(PKGS)) \
	-DFZ_DATA_DIR='"$(CURDIR)/tests/fuzz/data"'
# The harnesses answer HTTP themselves and keep stderr for the sanitizers.
FZ_WRAP   := -Wl,--wrap=vv_log,--wrap=vv_log_with,--wrap=vv_http_do,--wrap=vv_http_new,--wrap=vv_http_free \
	-Wl,--wrap=vv_http_connections,--wrap=vv_retry_sleep_ms
FZ_HARN   := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FZ_BIN    := $(FZ_HARN:tests/fuzz/%.c=$(FZ)/bin/%)
FZ_SUPP   := $(addprefix $(FZ)/tests/fuzz/,fz_util.o fake_http.o vault_fixture.o)

$(FZ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FZ_CC) $(FZ_CFLAGS) -MMD -MP -c -o $@ $<

$(FZ)/libbase.a: $(BASE_SRC:%.c=$(FZ)/%.o)
	@rm -f $@
	ar rcs $@ $^

$(FZ)/libvault.a: $(VAULT_SRC:%.c=$(FZ)/%.o)
	@rm -f $@
	ar rcs $@ $^

$(FZ)/libagent.a: $(AGENT_SRC:%.c=$(FZ)/%.o)
	@rm -f $@
	ar rcs $@ $^

$(FZ)/bin/%: $(FZ)/tests/fuzz/%.o $(FZ_SUPP) $(FZ)/libagent.a $(FZ)/libvault.a $(FZ)/libbase.a
	@mkdir -p $(dir $@)
	$(FZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $< $(FZ_SUPP) \
		$(FZ)/libagent.a $(FZ)/libvault.a $(FZ)/libbase.a $(LIBS) $(FZ_WRAP)

fuzz-build: $(FZ_BIN)

# Every harness for FUZZ_S seconds, from its committed corpus.
fuzz: fuzz-build
	tests/fuzz/run.sh fuzz $(FUZZ_S)

# Every corpus replayed, plus FUZZ_FRESH_S seconds of fresh fuzzing each.
fuzz-replay: fuzz-build
	tests/fuzz/run.sh replay $(FUZZ_FRESH_S)

clean:
	rm -rf build build-asan build-fuzz

-include $(BASE_OBJ:.o=.d) $(VAULT_OBJ:.o=.d) $(AGENT_OBJ:.o=.d) $(SUPP_OBJ:.o=.d) $(PLUGIN_OBJ:.o=.d) \
	$(B)/agent/main.d
-include $(wildcard $(FZ)/*/*.d $(FZ)/*/*/*.d $(FZ)/tests/fuzz/*.d)
