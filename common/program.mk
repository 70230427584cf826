# program.mk - how every exercise folder builds its one program.
#
# An exercise's Makefile sets PROGRAM and includes this file, so that
# `make -C 01-tcp-client` builds 01-tcp-client/tcp-client from
# tcp-client.c and the helpers in common/. The usual variables are
# honoured: CC, CFLAGS, CPPFLAGS, LDFLAGS, LDLIBS.
#
#   make                 build with the default flags
#   make SANITIZE=1      build with AddressSanitizer and UBSan (make clean first)
#   make CFLAGS='-O0 -g' build with your own flags
#   make clean           remove what make built

COMMON_DIR := $(dir $(lastword $(MAKEFILE_LIST)))
COMMON_SRC := $(COMMON_DIR)net.c
COMMON_HDR := $(COMMON_DIR)net.h

CFLAGS ?= -O2 -g -Wall -Wextra -Wpedantic
# The kit is C11 plus the POSIX.1-2008 socket API, on every compiler.
KIT_CPPFLAGS := -D_POSIX_C_SOURCE=200809L -I$(COMMON_DIR)

ifneq ($(SANITIZE),)
SANITIZE_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif

.PHONY: all clean

all: $(PROGRAM)

$(PROGRAM): $(PROGRAM).c $(COMMON_SRC) $(COMMON_HDR) $(EXTRA_DEPS)
	$(CC) -std=c11 $(KIT_CPPFLAGS) $(CPPFLAGS) $(CFLAGS) $(SANITIZE_FLAGS) \
		$(LDFLAGS) -o $@ $(PROGRAM).c $(COMMON_SRC) $(LDLIBS)

clean:
	rm -f $(PROGRAM)
