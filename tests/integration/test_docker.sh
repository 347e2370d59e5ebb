#!/bin/bash
# test_docker.sh — docker/ checked without a Docker engine: the compose file validates with a
# generated .env (docker compose or Debian's docker-compose), every variable it uses is named in
# .env.example, both services mount the shared volumes at the same paths, and the Dockerfile
# has a build stage with the -dev packages and a runtime stage with only libraries, uid 101,
# a volume and a health check.
set -u
. "$(dirname "$0")/lib.sh"

DC_DIR=$TGS3_ROOT/docker
COMPOSE=()
if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
    COMPOSE=(docker-compose)
fi
check "a compose tool is installed (docker compose or docker-compose)" test ${#COMPOSE[@]} -gt 0 || finish

ENV_FILE=$TEST_TMP/compose.env
cp "$DC_DIR/.env.example" "$ENV_FILE"
OUT=$TEST_TMP/compose.yml

compose() { "${COMPOSE[@]}" --project-directory "$DC_DIR" -f "$DC_DIR/docker-compose.yml" "$@"; }
check "compose file validates with .env.example" bash -c "$(declare -f compose); COMPOSE=(${COMPOSE[*]}); DC_DIR='$DC_DIR'; compose --env-file '$ENV_FILE' config >'$OUT'"

# Without the required variables, config stops and names the variable.
: >"$TEST_TMP/empty.env"
missing_env() {
    local out
    out=$(env -u TELEGRAM_API_ID -u TELEGRAM_API_HASH -u TGS3_BOT_TOKEN -u TGS3_CHAT_ID -u TGS3_ACCESS_KEY \
        -u TGS3_SECRET_KEY "${COMPOSE[@]}" --project-directory "$DC_DIR" -f "$DC_DIR/docker-compose.yml" \
        --env-file "$TEST_TMP/empty.env" config 2>&1) && { echo "config passed without .env"; return 1; }
    echo "$out"
    echo "$out" | grep -q 'TELEGRAM_API_ID\|TGS3_'
}
check "compose config without .env fails naming a variable" missing_env

# Every ${VAR} of the compose file is named in .env.example.
env_named() {
    local v rc=0
    for v in $(grep -o '\${[A-Z0-9_]*' "$DC_DIR/docker-compose.yml" | cut -c3- | sort -u); do
        grep -q "^$v=" "$DC_DIR/.env.example" || { echo "$v missing from .env.example"; rc=1; }
    done
    return $rc
}
check ".env.example names every variable the compose file uses" env_named

# The resolved file, read with Python's YAML parser (python3-yaml comes with docker-compose).
cat >"$TEST_TMP/check.py" <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
s = c["services"]
api, gw = s["telegram-bot-api"], s["tgs3"]
def mounts(svc):
    out = {}
    for v in svc.get("volumes", []):
        if isinstance(v, str):
            src, dst = v.split(":")[0], v.split(":")[1]
        else:
            src, dst = v["source"], v["target"]
        out[src] = dst
    return out
ma, mg = mounts(api), mounts(gw)
errors = []
if api["environment"].get("TELEGRAM_LOCAL") in (None, "", "0"):
    errors.append("the Bot API server is not in --local mode")
for vol in ("botapi-data", "staging"):
    if vol not in ma or vol not in mg:
        errors.append(f"volume {vol} is not mounted in both services")
    elif ma[vol] != mg[vol]:
        errors.append(f"volume {vol} at different paths: {ma[vol]} vs {mg[vol]}")
if ma.get("botapi-data") != "/var/lib/telegram-bot-api":
    errors.append("the server's working volume is not at /var/lib/telegram-bot-api")
if mg.get("staging") != gw["environment"].get("TGS3_STAGING_DIR"):
    errors.append("TGS3_STAGING_DIR is not the staging volume's path")
if "tgs3-data" not in mg or mg["tgs3-data"] != gw["environment"].get("TGS3_DATA_DIR"):
    errors.append("tgs3's data dir is not on a persistent volume")
if str(gw.get("user", "")) != "101:101":
    errors.append("tgs3 does not run as 101:101")
dep = gw.get("depends_on", {})
if not isinstance(dep, dict) or dep.get("telegram-bot-api", {}).get("condition") != "service_healthy":
    errors.append("tgs3 does not wait for a healthy Bot API server")
for name, svc in (("telegram-bot-api", api), ("tgs3", gw)):
    if "healthcheck" not in svc:
        errors.append(f"{name} has no health check")
if "8081/" in " ".join(api["healthcheck"]["test"]) or api["healthcheck"]["test"][-1].rstrip().endswith(":8081/"):
    errors.append("the server's health check probes / on the API port (it answers 404)")
if gw["environment"].get("TGS3_BOTAPI_URL") != "http://telegram-bot-api:8081":
    errors.append("TGS3_BOTAPI_URL does not point at the server")
ports = [str(p) for p in gw.get("ports", [])]
if not any("9001" in p and "127.0.0.1" in p for p in ports) and not any(
        isinstance(p, dict) and p.get("target") == 9001 and p.get("host_ip") == "127.0.0.1" for p in gw.get("ports", [])):
    errors.append("the admin port is not published on 127.0.0.1 only")
for vol in ("botapi-data", "staging", "tgs3-data"):
    if vol not in (c.get("volumes") or {}):
        errors.append(f"named volume {vol} is not declared")
print("\n".join(errors) if errors else "compose file: all checks passed")
sys.exit(1 if errors else 0)
PY
check "compose: shared volumes at the same path, uid 101, health checks, depends_on healthy" \
    "$PY" "$TEST_TMP/check.py" "$OUT"

# ---- Dockerfile ----
DF=$DC_DIR/Dockerfile
stage() { awk -v s="$1" '/^FROM /{ on = ($0 ~ (" AS " s "$")) } on' "$DF"; }
check "Dockerfile: build stage on debian:bookworm" grep -q '^FROM debian:bookworm AS build$' "$DF"
check "Dockerfile: runtime stage on debian bookworm" grep -Eq '^FROM debian:bookworm(-slim)? AS runtime$' "$DF"
dev_in_build() {
    local p rc=0
    # The packages the build needs (PKGS=, up to its closing quote); make fuzz's list is not the image's.
    for p in $(sed -n '/^PKGS="/,/"$/p' "$TGS3_ROOT/tests/deps.sh" | grep -o 'lib[a-z0-9.+-]*-dev' | sort -u); do
        stage build | grep -qw -- "$p" || { echo "$p missing from the build stage"; rc=1; }
    done
    stage build | grep -q 'make' || { echo "the build stage does not run make"; rc=1; }
    return $rc
}
check "Dockerfile: the build stage installs every -dev package of deps.sh and runs make" dev_in_build
runtime_libs() {
    local p rc=0
    for p in libh2o0.13 libuv1 libcurl4 libsqlite3-0 libjansson4 libssl3 libexpat1 ca-certificates; do
        stage runtime | grep -qw -- "$p" || { echo "$p missing from the runtime stage"; rc=1; }
    done
    if stage runtime | grep -q -- '-dev\b'; then echo "the runtime stage installs -dev packages"; rc=1; fi
    stage runtime | grep -q '^COPY --from=build /src/build/tgs3 ' || { echo "tgs3 not copied from the build stage"; rc=1; }
    stage runtime | grep -Eq '^USER 101(:101)?$' || { echo "the runtime user is not 101"; rc=1; }
    stage runtime | grep -q -- '--uid 101' || { echo "no user with uid 101"; rc=1; }
    stage runtime | grep -q '^VOLUME ' || { echo "no VOLUME for the data dir"; rc=1; }
    stage runtime | grep -A1 '^HEALTHCHECK' | grep -q '/healthz' || { echo "no HEALTHCHECK on /healthz"; rc=1; }
    return $rc
}
check "Dockerfile: runtime stage has only libraries, tgs3, uid 101, a volume, a health check" runtime_libs
# The COPY lines must bring in every source directory the Makefile compiles.
sources_copied() {
    local d rc=0
    for d in common s3 telegram gateway; do
        grep -q "^COPY $d/ $d/" "$DF" || { echo "$d/ not copied"; rc=1; }
    done
    return $rc
}
check "Dockerfile: copies every source directory" sources_copied
finish
