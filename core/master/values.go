package master

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"
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
		if err := checkValue(reflect.ValueOf(m.Value), ""); err != nil {
			return fmt.Errorf("%w: %s %q: %w", ErrInvalid, m.Kind, m.Key, err)
		}
	}
	return nil
}

var timeType = reflect.TypeFor[time.Time]()

func checkValue(v reflect.Value, path string) error {
	if v.Type() == timeType {
		t := v.Interface().(time.Time)
		if y := t.Year(); y < 0 || y > 9999 {
			return fmt.Errorf("field %s: time %s is outside the years 0 to 9999", path, t.Format(time.RFC3339))
		}
		return nil
	}
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("field %s: %v is not a finite number", path, f)
		}
	case reflect.String:
		if s := v.String(); !utf8.ValidString(s) {
			return fmt.Errorf("field %s: %s is not valid UTF-8", path, strconv.Quote(s))
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return checkValue(v.Elem(), path)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if !t.Field(i).IsExported() {
				continue
			}
			if err := checkValue(v.Field(i), join(path, t.Field(i).Name)); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := checkValue(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if err := checkValue(it.Key(), path+" key"); err != nil {
				return err
			}
			if err := checkValue(it.Value(), fmt.Sprintf("%s[%v]", path, it.Key())); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
