# vaultvol userspace build, tests, demo, bench and packages.
# `make` builds build/vaultvol and dm-quiesce for every installed kernel with
# headers; `make check` is what CI runs (see README.md).

B        ?= build
SAN      ?=
PKGS     := libcryptsetup devmapper blkid mount libcurl json-c openssl
CC       ?= cc
VERSION  := 0.1.0

WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
CFLAGS   ?= -O2 -g
ALL_CFLAGS := -std=gnu11 -D_GNU_SOURCE -fPIC $(WARN) $(CFLAGS) \
	-DVV_VERSION='"$(VERSION)"' -I. $(shell pkg-config --cflags $(PKGS))
LIBS     := $(shell pkg-config --libs $(PKGS)) -lpthread
ifeq ($(SAN),1)
ALL_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -O1
LDSAN    := -fsanitize=address,undefined
endif

VAULT_SRC := $(sort $(wildcard vault/*.c))
AGENT_SRC := $(sort $(filter-out agent/main.c,$(wildcard agent/*.c)))
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
SUPP_SRC  := $(sort $(wildcard tests/unit/support/*.c))

VAULT_OBJ := $(VAULT_SRC:%.c=$(B)/%.o)
AGENT_OBJ := $(AGENT_SRC:%.c=$(B)/%.o)
SUPP_OBJ  := $(SUPP_SRC:%.c=$(B)/%.o)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
# Small programs the guest scenarios use (built on our libraries).
VMTOOL_SRC := $(sort $(wildcard tests/vm/tools/*.c))
VMTOOL_BIN := $(VMTOOL_SRC:tests/vm/tools/%.c=$(B)/vm-tools/%)

KVERS    := $(notdir $(patsubst %/build/Makefile,%,$(wildcard /lib/modules/*/build/Makefile)))
KMODS    := $(KVERS:%=$(B)/kmod/%/dmtarget/dm-quiesce.ko)

.PHONY: all userspace module unit unit-asan check deps vm-test vm-suite system-test bench demo packages clean
.DELETE_ON_ERROR:

all: userspace module

userspace: $(B)/vaultvol $(B)/libvault.a $(B)/libagent.a $(VMTOOL_BIN)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/libvault.a: $(VAULT_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/libagent.a: $(AGENT_OBJ)
	@rm -f $@
	ar rcs $@ $^

# Commands register themselves in a linker section, so every agent object is
# linked in directly rather than picked from the archive on demand.
$(B)/vaultvol: $(B)/agent/main.o $(AGENT_OBJ) $(B)/libvault.a
	$(CC) $(LDSAN) $(LDFLAGS) -o $@ $(B)/agent/main.o $(AGENT_OBJ) $(B)/libvault.a $(LIBS)

$(B)/tests/%: tests/unit/%.c $(SUPP_OBJ) $(B)/libagent.a $(B)/libvault.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDSAN) -o $@ $< $(SUPP_OBJ) \
		-Wl,--whole-archive $(B)/libagent.a -Wl,--no-whole-archive \
		$(B)/libvault.a $(LIBS) -lcmocka

$(B)/vm-tools/%: tests/vm/tools/%.c $(B)/libagent.a $(B)/libvault.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDSAN) -o $@ $< $(B)/libagent.a $(B)/libvault.a $(LIBS)

# tests/suites/heap-wipe.sh: the LD_PRELOAD free() scanner, and vaultvol
# linked with the wiping allocators turned off (to show the scan can fail).
$(B)/tests/heapscan.so: tests/heapscan/heapscan.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -shared -o $@ $< -ldl

$(B)/tests/wipe_alloc_off.o: vault/wipe_alloc.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DVV_WIPE_ALLOC_OFF -c -o $@ $<

$(B)/tests/vaultvol-nowipe: $(B)/agent/main.o $(AGENT_OBJ) $(B)/tests/wipe_alloc_off.o $(B)/libvault.a
	$(CC) $(LDSAN) $(LDFLAGS) -o $@ $(B)/agent/main.o $(AGENT_OBJ) $(B)/tests/wipe_alloc_off.o \
		$(B)/libvault.a $(LIBS)

module: $(KMODS)

$(B)/kmod/%/dmtarget/dm-quiesce.ko: Kbuild $(wildcard dmtarget/*.c dmtarget/*.h dmtarget/*.sh dmtarget/Kbuild)
	+dmtarget/build.sh $* $(B)/kmod/$*

unit: $(UNIT_BIN) $(B)/vaultvol
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
system-test: all
	tests/system/run.sh $(if $(K),--kernel $(K)) $(T)

bench: all
	bench/run.sh

demo:
	tests/deps.sh
	$(MAKE) all
	tests/vm/demo.sh

packages: all
	packaging/build-all.sh

clean:
	rm -rf build build-asan

-include $(VAULT_OBJ:.o=.d) $(AGENT_OBJ:.o=.d) $(SUPP_OBJ:.o=.d) $(B)/agent/main.d
