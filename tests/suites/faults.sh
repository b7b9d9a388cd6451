#!/bin/bash
# The bounded fault matrix of `make check` (issue 21): the ten cheapest
# cells of tests/faults/run.sh, ten different vault and IMDS faults across
# the commands, each verdict measured (exit status, the message's object,
# cause and remedy, every byte of the device, no key in the output, the
# rerun). `make faults` runs the whole matrix (docs/faults.md).
cd "$(dirname "$0")/../.." || exit 2
exec tests/faults/run.sh --bounded 10
