package nbd

import (
	"encoding/binary"
	"math/bits"
	"sync"
)

var be = binary.BigEndian

// maxString is the longest string (export name, description, error
// message) the protocol allows.
const maxString = 4096

// requestHeader is a transmission request's fixed part.
type requestHeader struct {
	magic  uint32
	flags  uint16
	cmd    Command
	handle uint64
	offset uint64
	length uint32
}

// decodeRequest decodes the requestHeaderLen bytes of b.
func decodeRequest(b []byte) requestHeader {
	_ = b[requestHeaderLen-1]
	return requestHeader{
		magic:  be.Uint32(b[0:]),
		flags:  be.Uint16(b[4:]),
		cmd:    Command(be.Uint16(b[6:])),
		handle: be.Uint64(b[8:]),
		offset: be.Uint64(b[16:]),
		length: be.Uint32(b[24:]),
	}
}

// putSimpleReply encodes a simple reply header into b.
func putSimpleReply(b []byte, errno Errno, handle uint64) {
	_ = b[simpleReplyLen-1]
	be.PutUint32(b[0:], SimpleReplyMagic)
	be.PutUint32(b[4:], uint32(errno))
	be.PutUint64(b[8:], handle)
}

// putChunkHeader encodes a structured reply chunk header into b.
func putChunkHeader(b []byte, flags, typ uint16, handle uint64, length uint32) {
	_ = b[structuredHeaderLen-1]
	be.PutUint32(b[0:], StructuredReplyMagic)
	be.PutUint16(b[4:], flags)
	be.PutUint16(b[6:], typ)
	be.PutUint64(b[8:], handle)
	be.PutUint32(b[16:], length)
}

// putErrorPayload encodes the fixed part of an error chunk's payload:
// the error value and the message length.
func putErrorPayload(b []byte, errno Errno, msgLen int) {
	be.PutUint32(b[0:], uint32(errno))
	be.PutUint16(b[4:], uint16(msgLen))
}

func putUint64(b []byte, v uint64) { be.PutUint64(b, v) }

// Buffers for payloads come from pools by power-of-two size class, from
// 512 bytes to 64 MiB; larger ones are not kept.
const (
	minBufBits = 9
	maxBufBits = 26
)

var bufPools [maxBufBits - minBufBits + 1]sync.Pool

// getBuf returns a buffer of n bytes, its content undefined.
func getBuf(n int) []byte {
	c := max(bits.Len(uint(max(n, 1)-1)), minBufBits)
	if c > maxBufBits {
		return make([]byte, n)
	}
	if v := bufPools[c-minBufBits].Get(); v != nil {
		return (*v.(*[]byte))[:n]
	}
	return make([]byte, n, 1<<c)
}

// putBuf returns a buffer from getBuf to its pool.
func putBuf(b []byte) {
	c := cap(b)
	k := bits.Len(uint(c - 1))
	if c == 0 || c != 1<<k || k < minBufBits || k > maxBufBits {
		return
	}
	b = b[:c]
	bufPools[k-minBufBits].Put(&b)
}
