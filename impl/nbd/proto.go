package nbd

import (
	"errors"
	"fmt"
	"syscall"
)

// Magic numbers, as proto.md names them. Every field on the wire is big
// endian.
const (
	// Magic opens the server's greeting ("NBDMAGIC", INIT_PASSWD).
	Magic uint64 = 0x4e42444d41474943
	// OptMagic follows it in newstyle negotiation and opens every option
	// the client sends ("IHAVEOPT").
	OptMagic uint64 = 0x49484156454f5054
	// OptReplyMagic opens every option reply.
	OptReplyMagic uint64 = 0x3e889045565a9
	// RequestMagic opens every transmission request.
	RequestMagic uint32 = 0x25609513
	// SimpleReplyMagic opens a simple reply.
	SimpleReplyMagic uint32 = 0x67446698
	// StructuredReplyMagic opens a structured reply chunk.
	StructuredReplyMagic uint32 = 0x668e33ef
)

// Handshake flags (server) and client flags.
const (
	// FlagFixedNewstyle: the server speaks fixed newstyle negotiation.
	FlagFixedNewstyle uint16 = 1 << 0
	// FlagNoZeroes: the server can omit the 124 zero bytes after
	// NBD_OPT_EXPORT_NAME.
	FlagNoZeroes uint16 = 1 << 1

	// ClientFixedNewstyle: the client speaks fixed newstyle.
	ClientFixedNewstyle uint32 = 1 << 0
	// ClientNoZeroes: the client asks the server to omit the 124 zero
	// bytes.
	ClientNoZeroes uint32 = 1 << 1
)

// Option is an option type of the handshake.
type Option uint32

// Options the server knows. Any other is answered NBD_REP_ERR_UNSUP.
const (
	OptExportName      Option = 1
	OptAbort           Option = 2
	OptList            Option = 3
	OptStartTLS        Option = 5
	OptInfo            Option = 6
	OptGo              Option = 7
	OptStructuredReply Option = 8
	OptListMetaContext Option = 9
	OptSetMetaContext  Option = 10
	OptExtendedHeaders Option = 11
)

var optionNames = map[Option]string{
	OptExportName: "NBD_OPT_EXPORT_NAME", OptAbort: "NBD_OPT_ABORT", OptList: "NBD_OPT_LIST",
	OptStartTLS: "NBD_OPT_STARTTLS", OptInfo: "NBD_OPT_INFO", OptGo: "NBD_OPT_GO",
	OptStructuredReply: "NBD_OPT_STRUCTURED_REPLY", OptListMetaContext: "NBD_OPT_LIST_META_CONTEXT",
	OptSetMetaContext: "NBD_OPT_SET_META_CONTEXT", OptExtendedHeaders: "NBD_OPT_EXTENDED_HEADERS",
}

// String returns the option's protocol name, or its number.
func (o Option) String() string {
	if n, ok := optionNames[o]; ok {
		return n
	}
	return fmt.Sprintf("option %d", uint32(o))
}

// Reply is an option reply type; error types have bit 31 set.
type Reply uint32

// Option reply types.
const (
	RepAck    Reply = 1
	RepServer Reply = 2
	RepInfo   Reply = 3

	repErr             Reply = 1 << 31
	RepErrUnsup        Reply = repErr + 1
	RepErrPolicy       Reply = repErr + 2
	RepErrInvalid      Reply = repErr + 3
	RepErrPlatform     Reply = repErr + 4
	RepErrTLSReqd      Reply = repErr + 5
	RepErrUnknown      Reply = repErr + 6
	RepErrShutdown     Reply = repErr + 7
	RepErrBlockSizeReq Reply = repErr + 8
	RepErrTooBig       Reply = repErr + 9
)

// IsError reports whether r is an error reply.
func (r Reply) IsError() bool { return r&repErr != 0 }

// Info is an information type of NBD_OPT_INFO and NBD_OPT_GO.
type Info uint16

// Information types.
const (
	InfoExport      Info = 0
	InfoName        Info = 1
	InfoDescription Info = 2
	InfoBlockSize   Info = 3
)

// Transmission flags, sent with the export's size.
const (
	TransHasFlags        uint16 = 1 << 0
	TransReadOnly        uint16 = 1 << 1
	TransSendFlush       uint16 = 1 << 2
	TransSendFUA         uint16 = 1 << 3
	TransRotational      uint16 = 1 << 4
	TransSendTrim        uint16 = 1 << 5
	TransSendWriteZeroes uint16 = 1 << 6
	TransSendDF          uint16 = 1 << 7
	TransCanMultiConn    uint16 = 1 << 8
)

// Command is a transmission request type.
type Command uint16

// Commands. The server answers NBD_CMD_CACHE, NBD_CMD_BLOCK_STATUS and
// any unknown command with EINVAL.
const (
	CmdRead        Command = 0
	CmdWrite       Command = 1
	CmdDisc        Command = 2
	CmdFlush       Command = 3
	CmdTrim        Command = 4
	CmdCache       Command = 5
	CmdWriteZeroes Command = 6
	CmdBlockStatus Command = 7
)

var commandNames = [...]string{"read", "write", "disconnect", "flush", "trim", "cache", "write-zeroes", "block-status"}

// String returns the command's name ("read", "write-zeroes"), or its
// number.
func (c Command) String() string {
	if int(c) < len(commandNames) {
		return commandNames[c]
	}
	return fmt.Sprintf("command %d", uint16(c))
}

// Command flags.
const (
	CmdFlagFUA      uint16 = 1 << 0
	CmdFlagNoHole   uint16 = 1 << 1
	CmdFlagDF       uint16 = 1 << 2
	CmdFlagReqOne   uint16 = 1 << 3
	CmdFlagFastZero uint16 = 1 << 4
)

// Structured reply flags and chunk types.
const (
	ReplyFlagDone uint16 = 1 << 0

	ChunkNone       uint16 = 0
	ChunkOffsetData uint16 = 1
	ChunkOffsetHole uint16 = 2
	ChunkError      uint16 = 1<<15 + 1
	ChunkErrorOff   uint16 = 1<<15 + 2
)

// Errno is an error value of a reply: the protocol's subset of errno.
type Errno uint32

// The error values the protocol defines.
const (
	EPERM     Errno = 1
	EIO       Errno = 5
	ENOMEM    Errno = 12
	EINVAL    Errno = 22
	ENOSPC    Errno = 28
	EOVERFLOW Errno = 75
	ENOTSUP   Errno = 95
	ESHUTDOWN Errno = 108
)

var errnoNames = map[Errno]string{
	EPERM: "EPERM", EIO: "EIO", ENOMEM: "ENOMEM", EINVAL: "EINVAL", ENOSPC: "ENOSPC",
	EOVERFLOW: "EOVERFLOW", ENOTSUP: "ENOTSUP", ESHUTDOWN: "ESHUTDOWN",
}

// String returns the value's name ("EIO"), or its number.
func (e Errno) String() string {
	if n, ok := errnoNames[e]; ok {
		return n
	}
	return fmt.Sprintf("errno %d", uint32(e))
}

// Error is an error with the value a reply carries: an Export returns
// one to choose the value; any other error is sent as EIO, or as ENOSPC
// when it wraps syscall.ENOSPC, EDQUOT or EFBIG, as proto.md asks.
type Error struct {
	Errno Errno
	Err   error
}

// Error returns the wrapped error's text, or the value's name.
func (e *Error) Error() string {
	if e.Err == nil {
		return e.Errno.String()
	}
	return e.Err.Error()
}

// Unwrap returns the wrapped error.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with value errno and a formatted message.
func Errorf(errno Errno, format string, args ...any) error {
	return &Error{Errno: errno, Err: fmt.Errorf(format, args...)}
}

// errnoOf returns the value a reply carries for err (0 for nil).
func errnoOf(err error) Errno {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) && e.Errno != 0 {
		return e.Errno
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG) {
		return ENOSPC
	}
	return EIO
}

// Wire sizes.
const (
	requestHeaderLen    = 28
	simpleReplyLen      = 16
	structuredHeaderLen = 20
	optionHeaderLen     = 16
	optionReplyLen      = 20
)
