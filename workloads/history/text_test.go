package history

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/model"
)

func historyText(h History) string {
	var b bytes.Buffer
	h.WriteText(&b)
	return b.String()
}

func TestHistoryTextRoundTrip(t *testing.T) {
	h := History{Disk: model.Disk{BackingSectors: 16}, Events: []Event{
		{Kind: Call, ID: 1, Action: ActWrite, Sector: 8, Sectors: 2, Time: 100},
		{Kind: Call, ID: 2, Action: ActRead, Sector: 8, Sectors: 3, Client: 1, Time: 120},
		{Kind: Return, ID: 1, Time: 300, Req: 1},
		{Kind: Return, ID: 2, Time: 310, Req: 2, Seen: []Decoded{{Tag: model.WriteTag(1, 8)}, {Tag: model.BackingTag(9)}, {Fault: FaultTorn}}},
		{Kind: Call, ID: 3, Action: ActFlush, Time: 320},
		{Kind: Return, ID: 3, Time: 400, Err: `image "x" is closed`},
		{Kind: Call, ID: 4, Action: ActReopen, Time: 400},
		{Kind: Return, ID: 4, Time: 400},
	}}
	text := historyText(h)
	got, err := ParseHistory(strings.NewReader("# comment\n\n" + text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if !reflect.DeepEqual(got, h) {
		t.Errorf("round trip changed the history:\n%s\n%s", text, historyText(got))
	}
}

func TestParseHistoryErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"call 0 read s0+1", "positive integer"},
		{"call 1 frobnicate", "unknown operation"},
		{"call 1 read", "without sectors"},
		{"call 1 read s0+0", "COUNT > 0"},
		{"call 1 read s0+1 colour=red", "unknown call field"},
		{"return 1 saw=w0/s1", "tag \"w0/s1\""},
		{"return 1 saw=bogus", "tag \"bogus\""},
		{"return 1 err=\"open", "unterminated"},
		{"disk size=3", "unknown disk field"},
		{"hello 1", "unknown event"},
	}
	for _, tc := range tests {
		_, err := ParseHistory(strings.NewReader("disk backing=1\n" + tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("ParseHistory(%q) = %v, want an error on line 2 mentioning %q", tc.text, err, tc.want)
		}
	}
}
