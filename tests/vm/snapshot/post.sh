#!/bin/sh
# Post-snapshot script: let the application run again.
rm -f /tmp/app.pause
