package treeoflife

import (
	"encoding/base64"
	"strconv"
)

// formatCheckpoint renders h as a checkpoint in the first (legacy) layout:
// origin, size, root and the chain line, without the lines that later
// versions add. Open and Verify still read it.
func formatCheckpoint(logID [16]byte, h Head) []byte {
	var b []byte
	b = append(b, checkpointOrigin(logID)...)
	b = append(b, '\n')
	b = strconv.AppendUint(b, h.Size, 10)
	b = append(b, '\n')
	b = base64.StdEncoding.AppendEncode(b, h.Root[:])
	b = append(b, "\nchain "...)
	b = append(b, h.Chain.String()...)
	return append(b, '\n')
}
