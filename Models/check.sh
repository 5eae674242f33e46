#!/usr/bin/env bash
# Model-checks the wake protocol with SPIN: the real protocol must verify
# with no errors, and each deliberately broken variant must be rejected.
set -euo pipefail
cd "$(dirname "$0")"
command -v spin >/dev/null || { echo "spin is not installed (apt-get install spin)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp wake.pml "$work/"
cd "$work"

verify() {  # verify NAME [DEFINE...]; prints the error count
    local name=$1; shift
    local defines=()
    for define in "$@"; do defines+=("-D$define"); done
    spin -a "${defines[@]}" wake.pml >/dev/null
    gcc -O2 -DSAFETY=0 -DNOREDUCE -o pan pan.c 2>/dev/null
    ./pan -m200000 -n > "pan-$name.out" 2>&1 || true
    local errors
    errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "pan-$name.out" | head -n1)
    echo "${errors:-missing}"
}

failed=0
for scenario in release KEEP_HANDLE; do
    if [ "$scenario" = release ]; then errors=$(verify protocol-$scenario); else errors=$(verify protocol-$scenario KEEP_HANDLE); fi
    states=$(sed -n 's/^ *\([0-9e+.]*\) states, stored.*/\1/p' "pan-protocol-$scenario.out" | head -n1)
    if [ "$errors" = "0" ]; then
        echo "model: wake protocol ($scenario) verified, 0 errors ($states states)"
    else
        echo "model: wake protocol ($scenario) FAILED with $errors errors"; cat "pan-protocol-$scenario.out"; failed=1
    fi
done
for variant in NO_RECHECK NO_RING NO_FUTEX_COMPARE NO_CLOSED_CHECK NO_CLOSED_BIT; do
    # A close is what the last two get wrong: they keep the release.
    if [ "$variant" = NO_CLOSED_CHECK ] || [ "$variant" = NO_CLOSED_BIT ]; then
        errors=$(verify "$variant" "$variant")
    else
        errors=$(verify "$variant" "$variant" KEEP_HANDLE)
    fi
    if [ "$errors" != "0" ] && [ "$errors" != "missing" ]; then
        echo "model: broken variant $variant rejected ($errors error(s)), as it must be"
    else
        echo "model: broken variant $variant was NOT rejected: the model cannot see that bug"; cat "pan-$variant.out"; failed=1
    fi
done
exit $failed
