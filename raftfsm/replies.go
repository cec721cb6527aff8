package raftfsm

// NewReplies returns a Replies holding the given RESP3 replies, in order:
// what Propose returns, for fakes of a group in other packages' tests.
func NewReplies(replies ...[]byte) Replies {
	res := &Result{Ends: make([]int, 0, len(replies))}
	for _, r := range replies {
		res.Replies = append(res.Replies, r...)
		res.Ends = append(res.Ends, len(res.Replies))
	}
	return Replies{res: res, n: len(replies)}
}
