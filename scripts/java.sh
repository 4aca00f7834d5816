#!/usr/bin/env bash
# The Spark equality test needs a Java runtime (17). Install Debian's when missing and we can.
set -u
if command -v java >/dev/null 2>&1; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Debian's Java 17 runtime for the Spark test"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q openjdk-17-jre-headless >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q openjdk-17-jre-headless >/dev/null 2>&1; } \
    || echo "could not install Java; the Spark test will report it"
else
  echo "java is not installed (apt-get install openjdk-17-jre-headless); the Spark test will report it"
fi
exit 0
