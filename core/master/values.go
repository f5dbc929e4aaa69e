package master

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slapgo/slapgo/core/model"
)

// CheckValues reports the first value in muts that storage could not keep
// exactly: a float that is NaN or infinite, a string (or map key) that is not
// valid UTF-8, a time outside the years 0 to 9999. The error wraps ErrInvalid
// and names the entity and the field.
//
// Apply validates every input, so it never returns such a mutation: a
// failure here is a defect of the core. Shells call it before persisting so
// that a value problem is told apart from an I/O failure (see
// master/server).
func CheckValues(muts []Mutation) error {
	for _, m := range muts {
		if m.Delete || m.Value == nil {
			continue
		}
		if b := checkValue(reflect.ValueOf(m.Value)); b != nil {
			return fmt.Errorf("%w: %s %q: %s", ErrInvalid, m.Kind, m.Key, b.Error())
		}
	}
	return nil
}

var timeType = reflect.TypeFor[time.Time]()

// badValue is what checkValue found, with the path to it built on the way
// back up (only on failure: the walk itself allocates nothing).
type badValue struct {
	path []string // innermost first
	msg  string
}

func (b *badValue) at(step string) *badValue {
	b.path = append(b.path, step)
	return b
}

func (b *badValue) Error() string {
	var p strings.Builder
	for i := len(b.path) - 1; i >= 0; i-- {
		step := b.path[i]
		if p.Len() > 0 && !strings.HasPrefix(step, "[") && !strings.HasPrefix(step, " ") {
			p.WriteByte('.')
		}
		p.WriteString(step)
	}
	return "field " + p.String() + ": " + b.msg
}

func checkValue(v reflect.Value) *badValue {
	if v.Type() == timeType {
		var t time.Time
		if v.CanAddr() {
			t = *v.Addr().Interface().(*time.Time)
		} else {
			t = v.Interface().(time.Time)
		}
		if y := t.Year(); y < 0 || y > 9999 {
			return &badValue{msg: "time " + t.Format(time.RFC3339) + " is outside the years 0 to 9999"}
		}
		return nil
	}
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return &badValue{msg: strconv.FormatFloat(f, 'g', -1, 64) + " is not a finite number"}
		}
	case reflect.String:
		if s := v.String(); !utf8.ValidString(s) {
			return &badValue{msg: strconv.Quote(s) + " is not valid UTF-8"}
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return checkValue(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Field(i)
			if !f.CanInterface() { // unexported
				continue
			}
			if b := checkValue(f); b != nil {
				return b.at(v.Type().Field(i).Name)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if b := checkValue(v.Index(i)); b != nil {
				return b.at("[" + strconv.Itoa(i) + "]")
			}
		}
	case reflect.Map:
		if m, ok := v.Interface().(map[string]string); ok { // the common case, without copies
			for k, e := range m {
				switch {
				case !utf8.ValidString(k):
					return (&badValue{msg: strconv.Quote(k) + " is not valid UTF-8"}).at(" key")
				case !utf8.ValidString(e):
					return (&badValue{msg: strconv.Quote(e) + " is not valid UTF-8"}).at("[" + k + "]")
				}
			}
			return nil
		}
		if m, ok := v.Interface().(model.PriceList); ok {
			for k, e := range m {
				switch {
				case !utf8.ValidString(k):
					return (&badValue{msg: strconv.Quote(k) + " is not valid UTF-8"}).at(" key")
				case math.IsNaN(e) || math.IsInf(e, 0):
					return (&badValue{msg: strconv.FormatFloat(e, 'g', -1, 64) + " is not a finite number"}).at("[" + k + "]")
				}
			}
			return nil
		}
		it := v.MapRange()
		for it.Next() {
			if b := checkValue(it.Key()); b != nil {
				return b.at(" key")
			}
			if b := checkValue(it.Value()); b != nil {
				return b.at(fmt.Sprintf("[%v]", it.Key()))
			}
		}
	}
	return nil
}
