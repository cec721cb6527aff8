package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalcache/shoal/server"
)

// ServerSource is the RESP front end as the server collector reads it;
// *server.Server implements it. InfoStats is called from scrape
// goroutines, concurrently with the server's work: it must be safe for
// concurrent use (it takes the locks INFO takes).
type ServerSource interface {
	InfoStats() server.InfoStats
}

// BlockedClientsSource is implemented by a front end that counts clients
// blocked in a blocking command; the server collector exports
// shoal_blocked_clients only then.
type BlockedClientsSource interface {
	BlockedClients() int64
}

// OutputBufferSource is implemented by a front end that disconnects
// clients over an output-buffer limit and counts them; the server
// collector exports shoal_client_output_buffer_disconnects_total only
// then.
type OutputBufferSource interface {
	OutputBufferDisconnects() int64
}

// serverCollector exports the figures INFO reports.
type serverCollector struct {
	src     ServerSource
	blocked BlockedClientsSource
	obuf    OutputBufferSource
}

// NewServerCollector returns a collector over src's InfoStats (and, when
// src implements them, BlockedClientsSource and OutputBufferSource).
func NewServerCollector(src ServerSource) prometheus.Collector {
	c := &serverCollector{src: src}
	c.blocked, _ = src.(BlockedClientsSource)
	c.obuf, _ = src.(OutputBufferSource)
	return c
}

var (
	descKeyspaceHits   = newDesc("keyspace_hits_total", "Reads that found their key (INFO keyspace_hits).")
	descKeyspaceMisses = newDesc("keyspace_misses_total", "Reads that did not find their key (INFO keyspace_misses).")
	descKeys           = newDesc("keys", "Keys in the groups this node leads (INFO keyspace, as DBSIZE).")
	descKeysTTL        = newDesc("keys_with_ttl", "Keys with a time to live in the groups this node leads (INFO keyspace expires).")
	descExpiredKeys    = newDesc("expired_keys_total", "Keys deleted because their time to live ran out, in the groups hosted here (INFO expired_keys).")
	descEvictedKeys    = newDesc("evicted_keys_total", "Keys evicted for maxmemory, in the groups hosted here (INFO evicted_keys).")
	descUsedMemory     = newDesc("memory_used_bytes", "Accounted memory of the hosted groups' data plus the start-up baseline (INFO used_memory).")
	descDatasetMemory  = newDesc("memory_dataset_bytes", "Accounted memory of the hosted groups' data (INFO used_memory_dataset).")
	descRSS            = newDesc("memory_rss_bytes", "Resident set size of the process (INFO used_memory_rss).")
	descMaxMemory      = newDesc("memory_max_bytes", "The maxmemory limit; 0 for none.")
	descClients        = newDesc("connected_clients", "Open client connections.")
	descConnections    = newDesc("connections_received_total", "Client connections accepted.")
	descBlocked        = newDesc("blocked_clients", "Clients blocked in a blocking command.")
	descObufDisconn    = newDesc("client_output_buffer_disconnects_total", "Clients disconnected for exceeding an output-buffer limit.")
	descCommands       = newDesc("commands_processed_total", "Client commands run (INFO total_commands_processed).")
	descNetIn          = newDesc("net_input_bytes_total", "Bytes read from clients.")
	descNetOut         = newDesc("net_output_bytes_total", "Bytes written to clients.")
	descErrorReplies   = newDesc("error_replies_total", "Error replies sent to clients (INFO total_error_replies).")
	descOOMRejected    = newDesc("oom_rejected_commands_total", "Writes refused because of maxmemory (INFO oom_rejected_commands).")
	descProposals      = newDesc("proposals_total", "Write proposals the front end made to Raft groups.")
	descProposedCmds   = newDesc("proposed_commands_total", "Client commands carried by the front end's proposals.")
	descRouteHolds     = newDesc("route_holds_total", "Commands that waited for a migration's handover or a group's leader instead of a redirect or error at once (INFO route_holds).")
	descRouteHoldOut   = newDesc("route_hold_timeouts_total", "Commands whose wait for a handover or a leader ran out: answered TRYAGAIN or CLUSTERDOWN (INFO route_hold_timeouts).")
)

// Describe implements prometheus.Collector.
func (c *serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descKeyspaceHits, descKeyspaceMisses, descKeys, descKeysTTL,
		descExpiredKeys, descEvictedKeys, descUsedMemory, descDatasetMemory, descRSS, descMaxMemory,
		descClients, descConnections, descCommands, descNetIn, descNetOut, descErrorReplies,
		descOOMRejected, descProposals, descProposedCmds, descRouteHolds, descRouteHoldOut} {
		ch <- d
	}
	if c.blocked != nil {
		ch <- descBlocked
	}
	if c.obuf != nil {
		ch <- descObufDisconn
	}
}

// Collect implements prometheus.Collector.
func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.InfoStats()
	ch <- counter(descKeyspaceHits, float64(s.KeyspaceHits))
	ch <- counter(descKeyspaceMisses, float64(s.KeyspaceMisses))
	ch <- gauge(descKeys, float64(s.Keys))
	ch <- gauge(descKeysTTL, float64(s.Expires))
	ch <- counter(descExpiredKeys, float64(s.ExpiredKeys))
	ch <- counter(descEvictedKeys, float64(s.EvictedKeys))
	ch <- gauge(descUsedMemory, float64(s.UsedMemory))
	ch <- gauge(descDatasetMemory, float64(s.DatasetMemory))
	ch <- gauge(descRSS, float64(s.RSS))
	ch <- gauge(descMaxMemory, float64(s.MaxMemory))
	ch <- gauge(descClients, float64(s.ConnectedClients))
	ch <- counter(descConnections, float64(s.ConnectionsReceived))
	ch <- counter(descCommands, float64(s.CommandsProcessed))
	ch <- counter(descNetIn, float64(s.NetInputBytes))
	ch <- counter(descNetOut, float64(s.NetOutputBytes))
	ch <- counter(descErrorReplies, float64(s.ErrorReplies))
	ch <- counter(descOOMRejected, float64(s.RejectedOOM))
	ch <- counter(descProposals, float64(s.Proposals))
	ch <- counter(descProposedCmds, float64(s.ProposedCommands))
	ch <- counter(descRouteHolds, float64(s.RouteHolds))
	ch <- counter(descRouteHoldOut, float64(s.RouteHoldTimeouts))
	if c.blocked != nil {
		ch <- gauge(descBlocked, float64(c.blocked.BlockedClients()))
	}
	if c.obuf != nil {
		ch <- counter(descObufDisconn, float64(c.obuf.OutputBufferDisconnects()))
	}
}
