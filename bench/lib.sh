# bench/lib.sh - shell helpers shared by bench/run.sh and bench/failover.sh.
# Sourced, not run.

# quote ARG: ARG as a shell word (placeholders such as $PORT and $WORK stay
# bare, so that recorded commands read as templates).
quote() {
	local plain='^[][A-Za-z0-9_./:=,@%+{}$-]+$'
	if [[ -z $1 ]]; then
		printf "''"
	elif [[ $1 =~ $plain ]]; then
		printf '%s' "$1"
	else
		printf "'%s'" "${1//\'/\'\\\'\'}"
	fi
}
