# Sourced by the lane scripts: run_lane LABEL PYTHON ARG... runs pytest with PYTHON on the lane's
# tests (LANE_TESTS, unless an ARG names a path: options alone such as -x or --durations=5
# still run the lane's tests), then prints LABEL with the seconds since $started and $ready.
run_lane() {
    local label=$1 python=$2 chosen=0 status=0 arg
    shift 2
    for arg in "$@"; do
        case "$arg" in -*) ;; *) chosen=1 ;; esac
    done
    [ "$chosen" = 1 ] || set -- "$@" "${LANE_TESTS[@]}"
    "$python" -m pytest -q -n 2 --dist loadfile -p no:cacheprovider "$@" || status=$?
    awk -v s="$started" -v r="$ready" -v d="$EPOCHREALTIME" -v l="$label" \
        'BEGIN { printf l "\n", r - s, d - r }'
    return "$status"
}
