package r2

// This file owns set, the provider's stand-in for cloudflare.F.
//
// cloudflare-go's root package defines F, but its Client names every one of the SDK's 130 service
// packages, and their init functions register their types at start-up: importing the root for this
// one helper cost the operator 5 MiB of binary, 2.5 MiB of resident pages and 0.4 MiB of heap
// (measured 2026-12-07 with a program importing either the root or only accounts, r2 and user).
// The provider imports only the services it calls (api.go).

import (
	"fmt"
	"reflect"
)

// set makes *field, one of the SDK's param.Field[T] (whose package is internal to the SDK), hold v
// and be present: what `field = cloudflare.F(v)` does. A field of another shape, or a v its Value
// cannot hold, is a programming error and panics (every call is exercised by the provider's tests).
func set[F, T any](field *F, v T) {
	f := reflect.ValueOf(field).Elem()
	value, present := f.FieldByName("Value"), f.FieldByName("Present")
	if f.Kind() != reflect.Struct || !value.IsValid() || !present.IsValid() || present.Kind() != reflect.Bool {
		panic(fmt.Sprintf("r2.set: %s is not a cloudflare-go param.Field", f.Type()))
	}
	value.Set(reflect.ValueOf(&v).Elem())
	present.SetBool(true)
}
