#!/bin/bash
# Turns the KAFKA_* environment (the apache/kafka image's convention) into server.properties,
# formats the storage once, then runs the broker in the foreground.
#   KAFKA_FOO_BAR -> foo.bar, __ -> _, ___ -> -   (KAFKA_NODE_ID -> node.id)
# Not properties: KAFKA_HEAP_OPTS, KAFKA_OPTS, KAFKA_JVM_PERFORMANCE_OPTS and the other *_OPTS.
# CLUSTER_ID is the id the storage is formatted with (required).
# SCRAM_USERS_DIR (optional, docker-compose.secured.yml): a directory of <user>.scram files,
# one password each, as `datamoat broker start --security sasl_ssl` writes them; each becomes
# a SCRAM-SHA-512 user when the storage is formatted (the first start).
set -euo pipefail
: "${CLUSTER_ID:?CLUSTER_ID must be set (any 22-character base64 id)}"
props=/opt/kafka/config/server.properties
: >"$props"
while IFS='=' read -r name value; do
    case "$name" in
        KAFKA_*_OPTS | KAFKA_OPTS) continue ;;
        KAFKA_*) ;;
        *) continue ;;
    esac
    key="${name#KAFKA_}"
    key="${key,,}"
    key="${key//___/-}"
    key="${key//__/@}"
    key="${key//_/.}"
    key="${key//@/_}"
    printf '%s=%s\n' "$key" "$value" >>"$props"
done < <(env)
grep -q '^log.dirs=' "$props" || echo "log.dirs=/var/lib/kafka/data" >>"$props"
cp=/opt/kafka/libs/*
log4j="-Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties"
scram=()
if [ -n "${SCRAM_USERS_DIR:-}" ]; then
    for file in "$SCRAM_USERS_DIR"/*.scram; do
        [ -f "$file" ] || { echo "no <user>.scram file in $SCRAM_USERS_DIR" >&2; exit 1; }
        user="$(basename "$file" .scram)"
        scram+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$(<"$file")]")
    done
fi
java -Xmx256m $log4j -cp "$cp" kafka.tools.StorageTool format --ignore-formatted \
    -t "$CLUSTER_ID" -c "$props" ${scram[@]+"${scram[@]}"} >/dev/null
# shellcheck disable=SC2086 # the *_OPTS are word lists, as in kafka-run-class.sh
exec java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g} ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseG1GC \
    -XX:MaxGCPauseMillis=20 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true} \
    ${KAFKA_OPTS:-} $log4j -cp "$cp" kafka.Kafka "$props"
