package server

func init() {
	register(
		&command{name: "ping", arity: -1, kind: kindLocal, flags: flagFast | flagStale,
			acl: []string{"fast", "connection"}, run: pingCommand},
	)
}

// pingCommand: PING [message].
func pingCommand(x *Ctx, args [][]byte) {
	switch len(args) {
	case 1:
		x.simple("PONG")
	case 2:
		x.bulk(args[1])
	default:
		x.err(errWrongArgs("ping"))
	}
}
