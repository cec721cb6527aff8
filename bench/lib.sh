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

# cpu_ticks PID...: the user+system CPU time of the given processes, summed,
# in clock ticks (getconf CLK_TCK per second): fields 14 (utime) and 15
# (stime) of /proc/PID/stat, which cover all the threads of a process. Fails,
# printing nothing, when a process is gone.
cpu_ticks() {
	local pid s sum=0
	local -a f
	for pid in "$@"; do
		[[ -r /proc/$pid/stat ]] || return 1
		s=$(<"/proc/$pid/stat") || return 1
		s=${s##*) } # field 2, comm, may hold spaces and parentheses
		read -ra f <<<"$s"
		[[ ${f[11]:-} =~ ^[0-9]+$ && ${f[12]:-} =~ ^[0-9]+$ ]] || return 1
		sum=$((sum + f[11] + f[12]))
	done
	echo "$sum"
}
