package httpapi

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/arkserve/arkserve/internal/ark"
)

// flexInt is an integer field that also accepts a numeric string: the reference types weight as
// Integer, yet its own examples send "70" and "100", and clients copy them.
type flexInt struct {
	set   bool
	value int
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return ark.Errorf(ark.EInvalidArgument, "invalid string")
		}
		s = strings.TrimSpace(s)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v != math.Trunc(v) || math.Abs(v) > 1e9 {
		return &json.UnmarshalTypeError{Value: "value " + strconv.Quote(clipString(s)), Type: flexIntType}
	}
	f.set, f.value = true, int(v)
	return nil
}

// flexString accepts a JSON string or number and keeps its text: the reference types the health
// fields of a model as strings, and config.json files write numbers.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if _, err := strconv.ParseFloat(string(b), 64); err != nil {
		return &json.UnmarshalTypeError{Value: string(clipString(string(b))), Type: flexIntType}
	}
	*f = flexString(b)
	return nil
}

var flexIntType = reflect.TypeFor[flexInt]()
