package account

import (
	"bytes"
	"encoding/xml"
	"fmt"
)

// encodeConsumption writes c as an indented consumption report with an XML
// header. It refuses (ErrConsumption) what DecodeConsumption would refuse.
func encodeConsumption(c Consumption) ([]byte, error) {
	for k := range c.Movements {
		if err := checkMovement(&c.Movements[k], place{path: fmt.Sprintf("movement %d", k+1)}, ErrConsumption, nil); err != nil {
			return nil, err
		}
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<consumption>\n")
	for _, m := range c.Movements {
		writeMovement(&b, 2, m)
	}
	b.WriteString("</consumption>\n")
	return b.Bytes(), nil
}
