// Package nbd is the server side of the Network Block Device protocol
// (NetworkBlockDevice/nbd doc/proto.md), small enough to read in one
// sitting, with no dependency on the image behind it.
//
// A Server speaks the fixed newstyle handshake (NBD_OPT_EXPORT_NAME,
// NBD_OPT_GO and NBD_OPT_INFO with the export, name, description and
// block-size information, NBD_OPT_LIST, NBD_OPT_ABORT,
// NBD_OPT_STRUCTURED_REPLY; every other option is refused with
// NBD_REP_ERR_UNSUP and the session goes on), then the transmission
// phase: read, write, flush, trim and write-zeroes, with the FUA flag,
// simple replies, or structured replies once negotiated (a read is then
// answered with one data chunk, an error with an error chunk carrying its
// message).
//
// Every request is handed to the Export as soon as it is read, so many
// are in flight per connection and the export, not the server, decides
// what runs concurrently; replies go out in the order the export
// completes the requests. A write with FUA is followed by a flush before
// it is acknowledged. Malformed input (a bad magic, an option or a write
// longer than the server accepts, a client flag it does not know) ends the
// connection with an error naming what was wrong; a request that is merely
// invalid (out of range, an unknown command or flag, a write to a
// read-only export) is answered with the protocol's error value and the
// session goes on. Nothing a client sends makes the server panic.
//
// There is no TLS, no metadata context (NBD_CMD_BLOCK_STATUS) and no
// extended header.
package nbd
