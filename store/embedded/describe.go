package embedded

import (
	varint "encoding/binary"
	"fmt"
	"strings"
)

// factNames name the facts of a journal record, by tag, for people.
var factNames = map[byte]string{
	tagBinding:    "group binding",
	tagMigration:  "group migration",
	tagMember:     "roster change",
	tagSetting:    "setting",
	tagRevision:   "report (or a correction of one)",
	tagWithdrawal: "report withdrawal",
	tagOutbox:     "message to send",
	tagAttempt:    "send attempt",
	tagClaim:      "claim (a scheduled post or a button press done once)",
}

// DescribeRecord says which kinds of facts a journal record holds, as far
// as it can be decoded — for gridbot db repair, to tell the operator what
// a damaged record held. It reads only entry tags and lengths, so it
// never reveals what users typed; it stops at the first entry that does
// not decode, as a damaged record may.
func DescribeRecord(rec []byte) string {
	if len(rec) == 0 {
		return "an empty record"
	}
	if rec[0] != recordVersion {
		return "an undecodable record"
	}
	counts := map[byte]int{}
	var order []byte
	p, rest := 1, ""
	for p < len(rec) {
		tag := rec[p]
		n, w := varint.Uvarint(rec[p+1:])
		_, known := factNames[tag]
		if !known || w <= 0 || n > uint64(len(rec)-p-1-w) {
			rest = fmt.Sprintf("%d bytes that do not decode", len(rec)-p)
			break
		}
		if counts[tag] == 0 {
			order = append(order, tag)
		}
		counts[tag]++
		p += 1 + w + int(n)
	}
	var parts []string
	for _, tag := range order {
		parts = append(parts, fmt.Sprintf("%d × %s", counts[tag], factNames[tag]))
	}
	if rest != "" {
		parts = append(parts, rest)
	}
	return strings.Join(parts, ", ")
}
