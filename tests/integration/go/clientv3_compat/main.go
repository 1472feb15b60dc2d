// clientv3_compat drives an etcd v3 endpoint with Go's official client
// (go.etcd.io/etcd/clientv3, etcd 3.4 as packaged by Debian) the way Go
// users and the Kubernetes apiserver do, and prints a JSON-lines transcript:
//
//	{"step": "<name>", "result": <value>, "error": <error>, "new_leases": [id...]}
//	...
//	{"step": "<end>"}
//
// Every response is rendered field by field (all exported fields, zero values
// included; []byte as a string when valid UTF-8, else "b64:<base64>"), so the
// transcripts of two servers can be diffed after normalizing ids, raft
// term/index, db size, version and hashes (see tests/integration/test_go_clientv3.py).
// An error is rendered as its gRPC code, message, Go type and the names of the
// rpctypes / concurrency / context errors it equals (what clientv3 users compare
// against, e.g. err == rpctypes.ErrCompacted).  Ids of leases created by the
// program are listed in "new_leases" of the step that created them, in order.
//
// Usage: clientv3_compat [-step-timeout 5s] <endpoint> <scenario>
//
//	clientv3_compat -list   prints the scenario names
//
// Build (GOPATH mode, Debian packages golang-go + golang-etcd-server-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o clientv3_compat .
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
	"go.etcd.io/etcd/etcdserver/api/v3rpc/rpctypes"
	pb "go.etcd.io/etcd/etcdserver/etcdserverpb"
	"go.etcd.io/etcd/mvcc/mvccpb"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/grpclog"
	"google.golang.org/grpc/status"
)

// ---------------------------------------------------------------------------
// transcript

var (
	stepTimeout = 5 * time.Second
	outMu       sync.Mutex
	out         = newEncoder()
)

type record struct {
	Step      string      `json:"step"`
	Result    interface{} `json:"result,omitempty"`
	Error     interface{} `json:"error,omitempty"`
	NewLeases []int64     `json:"new_leases,omitempty"`
}

// maxTimeouts consecutive steps that hit their deadline abort the program: a
// hanging server would otherwise cost stepTimeout per remaining step.
const maxTimeouts = 3

var timeouts int

func emit(r record) {
	outMu.Lock()
	defer outMu.Unlock()
	if err := out.Encode(r); err != nil {
		fmt.Fprintln(os.Stderr, "write:", err)
		os.Exit(3)
	}
	if e, ok := r.Error.(map[string]interface{}); ok && e["code"] == codes.DeadlineExceeded.String() {
		timeouts++
	} else {
		timeouts = 0
	}
	if timeouts >= maxTimeouts {
		out.Encode(record{Step: fmt.Sprintf("<aborted: %d consecutive steps timed out>", maxTimeouts)})
		os.Exit(4)
	}
}

// step runs f with a per-step deadline and records its result or error.
func step(name string, f func(ctx context.Context) (interface{}, error)) (interface{}, error) {
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	res, err := f(ctx)
	rec := record{Step: name, Error: errInfo(err)}
	if res != nil {
		rec.Result = enc(reflect.ValueOf(res))
	}
	emit(rec)
	return res, err
}

// note records a value computed by the program (no server call).
func note(name string, v interface{}) {
	emit(record{Step: name, Result: enc(reflect.ValueOf(v))})
}

// ---------------------------------------------------------------------------
// rendering of responses

func bytesRepr(b []byte) interface{} {
	if b == nil {
		return ""
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return "b64:" + base64.StdEncoding.EncodeToString(b)
}

func fieldName(f reflect.StructField) string {
	if f.Anonymous {
		if f.Type == reflect.TypeOf(&pb.ResponseHeader{}) || f.Type == reflect.TypeOf(pb.ResponseHeader{}) {
			return "header"
		}
	}
	if tag := f.Tag.Get("json"); tag != "" {
		if name := strings.Split(tag, ",")[0]; name != "" {
			return name
		}
	}
	for _, part := range strings.Split(f.Tag.Get("protobuf"), ",") {
		if strings.HasPrefix(part, "name=") {
			return part[len("name="):]
		}
	}
	return f.Name
}

var stringerType = reflect.TypeOf((*fmt.Stringer)(nil)).Elem()

// enc renders any response as plain JSON-able data, ALL exported fields
// included (zero values too), XXX_ protobuf internals excluded.
func enc(v reflect.Value) interface{} {
	if !v.IsValid() {
		return nil
	}
	switch v.Kind() {
	case reflect.Ptr, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return enc(v.Elem())
	case reflect.Struct:
		m := map[string]interface{}{}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.PkgPath != "" || strings.HasPrefix(f.Name, "XXX_") || f.Tag.Get("json") == "-" {
				continue
			}
			m[fieldName(f)] = enc(v.Field(i))
		}
		return m
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return bytesRepr(v.Bytes())
		}
		l := make([]interface{}, v.Len())
		for i := range l {
			l[i] = enc(v.Index(i))
		}
		return l
	case reflect.Array:
		l := make([]interface{}, v.Len())
		for i := range l {
			l[i] = enc(v.Index(i))
		}
		return l
	case reflect.Map:
		m := map[string]interface{}{}
		for _, k := range v.MapKeys() {
			m[fmt.Sprint(k.Interface())] = enc(v.MapIndex(k))
		}
		return m
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.Type().Implements(stringerType) && v.Type().PkgPath() != "" && v.Kind() == reflect.Int32 {
			return v.Interface().(fmt.Stringer).String() // protobuf enums: "PUT", "NOSPACE"
		}
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint()
	case reflect.Bool:
		return v.Bool()
	case reflect.String:
		return v.String()
	case reflect.Float32, reflect.Float64:
		return v.Float()
	}
	return fmt.Sprintf("<%s>", v.Type())
}

// ---------------------------------------------------------------------------
// errors

type namedErr struct {
	name string
	err  error
}

var knownErrors = []namedErr{
	{"rpctypes.ErrEmptyKey", rpctypes.ErrEmptyKey},
	{"rpctypes.ErrKeyNotFound", rpctypes.ErrKeyNotFound},
	{"rpctypes.ErrValueProvided", rpctypes.ErrValueProvided},
	{"rpctypes.ErrLeaseProvided", rpctypes.ErrLeaseProvided},
	{"rpctypes.ErrTooManyOps", rpctypes.ErrTooManyOps},
	{"rpctypes.ErrDuplicateKey", rpctypes.ErrDuplicateKey},
	{"rpctypes.ErrCompacted", rpctypes.ErrCompacted},
	{"rpctypes.ErrFutureRev", rpctypes.ErrFutureRev},
	{"rpctypes.ErrNoSpace", rpctypes.ErrNoSpace},
	{"rpctypes.ErrLeaseNotFound", rpctypes.ErrLeaseNotFound},
	{"rpctypes.ErrLeaseExist", rpctypes.ErrLeaseExist},
	{"rpctypes.ErrLeaseTTLTooLarge", rpctypes.ErrLeaseTTLTooLarge},
	{"rpctypes.ErrMemberNotFound", rpctypes.ErrMemberNotFound},
	{"rpctypes.ErrRequestTooLarge", rpctypes.ErrRequestTooLarge},
	{"rpctypes.ErrTooManyRequests", rpctypes.ErrTooManyRequests},
	{"rpctypes.ErrNoLeader", rpctypes.ErrNoLeader},
	{"rpctypes.ErrNotLeader", rpctypes.ErrNotLeader},
	{"rpctypes.ErrNotCapable", rpctypes.ErrNotCapable},
	{"rpctypes.ErrStopped", rpctypes.ErrStopped},
	{"rpctypes.ErrTimeout", rpctypes.ErrTimeout},
	{"rpctypes.ErrUnhealthy", rpctypes.ErrUnhealthy},
	{"rpctypes.ErrCorrupt", rpctypes.ErrCorrupt},
	{"rpctypes.ErrBadLeaderTransferee", rpctypes.ErrBadLeaderTransferee},
	{"rpctypes.ErrPermissionDenied", rpctypes.ErrPermissionDenied},
	{"rpctypes.ErrAuthNotEnabled", rpctypes.ErrAuthNotEnabled},
	{"rpctypes.ErrInvalidAuthToken", rpctypes.ErrInvalidAuthToken},
	{"concurrency.ErrElectionNotLeader", concurrency.ErrElectionNotLeader},
	{"concurrency.ErrElectionNoLeader", concurrency.ErrElectionNoLeader},
	{"context.DeadlineExceeded", context.DeadlineExceeded},
	{"context.Canceled", context.Canceled},
}

func errInfo(err error) interface{} {
	if err == nil {
		return nil
	}
	d := map[string]interface{}{
		"message": err.Error(),
		"go_type": fmt.Sprintf("%T", err),
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		d["code"] = ee.Code().String()
	} else if s, ok := status.FromError(err); ok {
		d["code"] = s.Code().String()
		d["grpc_message"] = s.Message()
	} else if errors.Is(err, context.DeadlineExceeded) {
		d["code"] = codes.DeadlineExceeded.String()
	} else if errors.Is(err, context.Canceled) {
		d["code"] = codes.Canceled.String()
	} else {
		d["code"] = status.Code(err).String()
	}
	matches := []string{}
	for _, k := range knownErrors {
		if err == k.err || errors.Is(err, k.err) {
			matches = append(matches, k.name)
		}
	}
	d["equals"] = matches
	return d
}

// ---------------------------------------------------------------------------
// helpers

type env struct {
	c  *clientv3.Client
	ep string
}

func (e *env) put(name, key, val string, opts ...clientv3.OpOption) (*clientv3.PutResponse, error) {
	r, err := step(name, func(ctx context.Context) (interface{}, error) { return e.c.Put(ctx, key, val, opts...) })
	if err != nil {
		return nil, err
	}
	return r.(*clientv3.PutResponse), nil
}

func (e *env) get(name, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	r, err := step(name, func(ctx context.Context) (interface{}, error) { return e.c.Get(ctx, key, opts...) })
	if err != nil {
		return nil, err
	}
	return r.(*clientv3.GetResponse), nil
}

func (e *env) del(name, key string, opts ...clientv3.OpOption) {
	step(name, func(ctx context.Context) (interface{}, error) { return e.c.Delete(ctx, key, opts...) })
}

func (e *env) txn(name string, cmps []clientv3.Cmp, thenOps, elseOps []clientv3.Op) (*clientv3.TxnResponse, error) {
	r, err := step(name, func(ctx context.Context) (interface{}, error) {
		t := e.c.Txn(ctx)
		if cmps != nil {
			t = t.If(cmps...)
		}
		if thenOps != nil {
			t = t.Then(thenOps...)
		}
		if elseOps != nil {
			t = t.Else(elseOps...)
		}
		return t.Commit()
	})
	if err != nil {
		return nil, err
	}
	return r.(*clientv3.TxnResponse), nil
}

// grant records the new lease id; returns 0 on error.
func (e *env) grant(name string, ttl int64) clientv3.LeaseID {
	return e.grantWith(name, e.c, ttl)
}

func (e *env) grantWith(name string, le clientv3.Lease, ttl int64) clientv3.LeaseID {
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	r, err := le.Grant(ctx, ttl)
	rec := record{Step: name, Error: errInfo(err)}
	if r != nil {
		rec.Result = enc(reflect.ValueOf(r))
		rec.NewLeases = []int64{int64(r.ID)}
	}
	emit(rec)
	if err != nil {
		return 0
	}
	return r.ID
}

func (e *env) timeToLive(name string, id clientv3.LeaseID, opts ...clientv3.LeaseOption) {
	step(name, func(ctx context.Context) (interface{}, error) { return e.c.TimeToLive(ctx, id, opts...) })
}

func keysOf(r *clientv3.GetResponse) []string {
	ks := []string{}
	if r != nil {
		for _, kv := range r.Kvs {
			ks = append(ks, string(kv.Key))
		}
	}
	return ks
}

// ---------------------------------------------------------------------------
// scenarios

var scenarios = map[string]func(*env){
	"kv_get":         scenarioKVGet,
	"kv_put_delete":  scenarioKVPutDelete,
	"txn":            scenarioTxn,
	"pagination":     scenarioPagination,
	"compaction":     scenarioCompaction,
	"maintenance":    scenarioMaintenance,
	"alarm_nospace":  scenarioAlarmNoSpace,
	"lease":          scenarioLease,
	"stm":            scenarioSTM,
	"watch":          scenarioWatch,
	"watch_progress": scenarioWatchProgress,
	"concurrency":    scenarioConcurrency,
}

// setupKeys: creation order != key order, updates give distinct versions and
// mod revisions (revisions 2..13).
func setupKeys(e *env) {
	for _, kv := range [][2]string{{"r/c", "m"}, {"r/a", "q"}, {"r/e", "b"}, {"r/b", "z"}, {"r/f", "b"},
		{"r/d", "k"}, {"r/a", "c"}, {"r/e", "y"}, {"r/a", "a"}, {"r/c", "x"}, {"s", "s"}, {"q", "q"}} {
		e.put("setup put "+kv[0]+"="+kv[1], kv[0], kv[1])
	}
}

func scenarioKVGet(e *env) {
	setupKeys(e)
	e.put("put unicode", "ключ/✓", "значение 🚀")
	e.put("put binary", "bin\x00\xff\x01", "\x00\xfe\xff")
	e.put("put empty value", "r0empty", "")
	e.get("get single", "r/a")
	e.get("get missing", "nope")
	e.get("get unicode", "ключ/✓")
	e.get("get binary", "bin\x00\xff\x01")
	e.get("get empty value", "r0empty")
	e.get("get empty key (error)", "")
	e.get("WithPrefix", "r/", clientv3.WithPrefix())
	e.get("WithPrefix no match", "zz", clientv3.WithPrefix())
	e.get("WithPrefix empty key = all keys", "", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	e.get("WithRange [r/b, r/e)", "r/b", clientv3.WithRange("r/e"))
	e.get("WithRange end < start", "r/e", clientv3.WithRange("r/b"))
	e.get("WithRange end == start", "r/b", clientv3.WithRange("r/b"))
	e.get("WithFromKey r/d", "r/d", clientv3.WithFromKey(), clientv3.WithKeysOnly())
	e.get("WithFromKey empty key = all", "", clientv3.WithFromKey(), clientv3.WithKeysOnly())
	e.get("WithFromKey \\x00", "\x00", clientv3.WithFromKey(), clientv3.WithCountOnly())
	e.get("WithLimit 2", "r/", clientv3.WithPrefix(), clientv3.WithLimit(2))
	e.get("WithLimit 0 (no limit)", "r/", clientv3.WithPrefix(), clientv3.WithLimit(0), clientv3.WithKeysOnly())
	e.get("WithLimit == count", "r/", clientv3.WithPrefix(), clientv3.WithLimit(6), clientv3.WithKeysOnly())
	e.get("WithLimit > count", "r/", clientv3.WithPrefix(), clientv3.WithLimit(100), clientv3.WithKeysOnly())
	e.get("WithLimit on single key", "r/a", clientv3.WithLimit(1))
	e.get("WithRev past", "r/", clientv3.WithPrefix(), clientv3.WithRev(6))
	e.get("WithRev 1 (before any write)", "r/", clientv3.WithPrefix(), clientv3.WithRev(1))
	e.get("WithRev current", "r/a", clientv3.WithRev(16))
	e.get("WithRev future (error)", "r/", clientv3.WithPrefix(), clientv3.WithRev(1000))
	e.get("WithRev single key history", "r/a", clientv3.WithRev(8))
	for _, t := range []struct {
		name   string
		target clientv3.SortTarget
	}{{"key", clientv3.SortByKey}, {"version", clientv3.SortByVersion}, {"create", clientv3.SortByCreateRevision},
		{"mod", clientv3.SortByModRevision}, {"value", clientv3.SortByValue}} {
		for _, o := range []struct {
			name  string
			order clientv3.SortOrder
		}{{"none", clientv3.SortNone}, {"ascend", clientv3.SortAscend}, {"descend", clientv3.SortDescend}} {
			e.get("WithSort "+t.name+" "+o.name, "r/", clientv3.WithPrefix(), clientv3.WithSort(t.target, o.order))
		}
	}
	e.get("WithSort mod descend + WithLimit 2", "r/", clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortDescend), clientv3.WithLimit(2))
	e.get("WithSort value ascend + WithLimit 3", "r/", clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByValue, clientv3.SortAscend), clientv3.WithLimit(3))
	e.get("WithFirstCreate", "r/", clientv3.WithFirstCreate()...)
	e.get("WithLastCreate", "r/", clientv3.WithLastCreate()...)
	e.get("WithFirstKey", "r/", clientv3.WithFirstKey()...)
	e.get("WithLastKey", "r/", clientv3.WithLastKey()...)
	e.get("WithFirstRev", "r/", clientv3.WithFirstRev()...)
	e.get("WithLastRev", "r/", clientv3.WithLastRev()...)
	e.get("WithKeysOnly", "r/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	e.get("WithCountOnly", "r/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	e.get("WithCountOnly all keys", "", clientv3.WithPrefix(), clientv3.WithCountOnly())
	e.get("WithCountOnly + WithLimit", "r/", clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithLimit(2))
	e.get("WithCountOnly + WithKeysOnly", "r/", clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithKeysOnly())
	e.get("WithSerializable", "r/", clientv3.WithPrefix(), clientv3.WithSerializable())
	e.get("WithSerializable + WithRev", "r/a", clientv3.WithSerializable(), clientv3.WithRev(4))
	e.get("WithMinModRev 9", "r/", clientv3.WithPrefix(), clientv3.WithMinModRev(9), clientv3.WithKeysOnly())
	e.get("WithMaxModRev 5", "r/", clientv3.WithPrefix(), clientv3.WithMaxModRev(5), clientv3.WithKeysOnly())
	e.get("WithMinCreateRev 5", "r/", clientv3.WithPrefix(), clientv3.WithMinCreateRev(5), clientv3.WithKeysOnly())
	e.get("WithMaxCreateRev 4", "r/", clientv3.WithPrefix(), clientv3.WithMaxCreateRev(4), clientv3.WithKeysOnly())
	e.get("WithMinModRev + WithMaxModRev + WithLimit", "r/", clientv3.WithPrefix(), clientv3.WithMinModRev(3),
		clientv3.WithMaxModRev(10), clientv3.WithLimit(2), clientv3.WithKeysOnly())
	e.get("WithMinCreateRev + WithMaxCreateRev", "r/", clientv3.WithPrefix(), clientv3.WithMinCreateRev(3),
		clientv3.WithMaxCreateRev(6))
	e.get("WithMinModRev + WithCountOnly", "r/", clientv3.WithPrefix(), clientv3.WithMinModRev(9), clientv3.WithCountOnly())
	e.get("WithMaxModRev + WithRev", "r/", clientv3.WithPrefix(), clientv3.WithMaxModRev(5), clientv3.WithRev(9),
		clientv3.WithKeysOnly())
	e.get("WithPrevKV (ignored by Get)", "r/a", clientv3.WithPrevKV())
	e.get("all options", "r/", clientv3.WithPrefix(), clientv3.WithRev(12), clientv3.WithLimit(3),
		clientv3.WithSort(clientv3.SortByVersion, clientv3.SortDescend), clientv3.WithSerializable(),
		clientv3.WithMinModRev(2), clientv3.WithMaxModRev(11), clientv3.WithMinCreateRev(2), clientv3.WithMaxCreateRev(7))
	step("Do(OpGet WithPrefix)", func(ctx context.Context) (interface{}, error) {
		r, err := e.c.Do(ctx, clientv3.OpGet("r/", clientv3.WithPrefix(), clientv3.WithKeysOnly()))
		return r.Get(), err
	})
	step("KV.Get via NewKV", func(ctx context.Context) (interface{}, error) {
		return clientv3.NewKV(e.c).Get(ctx, "r/b")
	})
}

func scenarioKVPutDelete(e *env) {
	e.put("put new", "k1", "v1")
	e.put("put overwrite WithPrevKV", "k1", "v2", clientv3.WithPrevKV())
	e.put("put new WithPrevKV", "k2", "v", clientv3.WithPrevKV())
	e.put("put empty value", "k3", "")
	e.put("put empty key (error)", "", "v")
	e.get("get k1", "k1")
	lease := e.grant("grant 60", 60)
	e.put("put WithLease", "k1", "v3", clientv3.WithLease(lease), clientv3.WithPrevKV())
	e.get("get k1 (lease attached)", "k1")
	e.put("put WithIgnoreLease keeps lease", "k1", "v4", clientv3.WithIgnoreLease(), clientv3.WithPrevKV())
	e.get("get k1 after IgnoreLease", "k1")
	e.put("put WithIgnoreValue keeps value", "k1", "", clientv3.WithIgnoreValue(), clientv3.WithPrevKV())
	e.get("get k1 after IgnoreValue", "k1")
	e.put("put WithIgnoreValue + WithIgnoreLease", "k1", "", clientv3.WithIgnoreValue(), clientv3.WithIgnoreLease())
	e.put("put WithIgnoreValue missing key (error)", "nope", "", clientv3.WithIgnoreValue())
	e.put("put WithIgnoreValue with a value (error)", "k1", "x", clientv3.WithIgnoreValue())
	e.put("put WithIgnoreLease + WithLease (error)", "k1", "x", clientv3.WithIgnoreLease(), clientv3.WithLease(lease))
	e.put("put WithIgnoreLease on key without lease", "k2", "w", clientv3.WithIgnoreLease(), clientv3.WithPrevKV())
	e.put("put without lease detaches", "k1", "v5", clientv3.WithPrevKV())
	e.timeToLive("lease keys after detach", lease, clientv3.WithAttachedKeys())
	e.put("put unknown lease (error)", "k4", "v", clientv3.WithLease(clientv3.LeaseID(0x1234abcd)))
	e.put("put 1 MiB", "big", strings.Repeat("0123456789abcdef", 1<<16))
	e.get("get 1 MiB (keys only)", "big", clientv3.WithKeysOnly())
	e.put("put 1.6 MB (error: request too large)", "big2", strings.Repeat("x", 1600000))
	for _, k := range []string{"d/a", "d/b", "d/c", "d/c/1", "d/c/2", "d/d", "e", "f"} {
		e.put("setup put "+k, k, "v-"+k)
	}
	e.del("delete existing", "d/a")
	e.del("delete missing", "d/a")
	e.del("delete WithPrevKV", "d/b", clientv3.WithPrevKV())
	e.del("delete missing WithPrevKV", "d/b", clientv3.WithPrevKV())
	e.del("delete WithPrefix", "d/c/", clientv3.WithPrefix())
	e.del("delete WithPrefix none", "nothing/", clientv3.WithPrefix())
	e.del("delete WithRange WithPrevKV", "d/", clientv3.WithRange("e"), clientv3.WithPrevKV())
	e.del("delete WithFromKey WithPrevKV", "e", clientv3.WithFromKey(), clientv3.WithPrevKV())
	e.del("delete empty key (error)", "")
	e.get("get all after deletes", "", clientv3.WithPrefix())
	e.get("history of deleted key", "d/a", clientv3.WithRev(25))
	e.put("recreate deleted key WithPrevKV", "d/a", "again", clientv3.WithPrevKV())
	e.get("recreated key (version 1)", "d/a")
	e.del("delete all WithPrefix empty key", "", clientv3.WithPrefix())
	e.get("count after delete all", "", clientv3.WithPrefix(), clientv3.WithCountOnly())
	step("Do(OpPut)", func(ctx context.Context) (interface{}, error) {
		r, err := e.c.Do(ctx, clientv3.OpPut("do", "1", clientv3.WithPrevKV()))
		return r.Put(), err
	})
	step("Do(OpDelete)", func(ctx context.Context) (interface{}, error) {
		r, err := e.c.Do(ctx, clientv3.OpDelete("do", clientv3.WithPrevKV()))
		return r.Del(), err
	})
}

func scenarioTxn(e *env) {
	e.put("setup t/a", "t/a", "1")        // rev 2
	e.put("setup t/b", "t/b", "2")        // rev 3
	e.put("setup t/b again", "t/b", "22") // rev 4
	lease := e.grant("grant 60", 60)
	e.put("setup t/l with lease", "t/l", "l", clientv3.WithLease(lease)) // rev 5
	C := clientv3.Compare
	V, Ver, CR, MR, LV := clientv3.Value, clientv3.Version, clientv3.CreateRevision, clientv3.ModRevision, clientv3.LeaseValue
	get := clientv3.OpGet
	put := clientv3.OpPut
	del := clientv3.OpDelete
	ops := func(o ...clientv3.Op) []clientv3.Op { return o }
	cmps := func(c ...clientv3.Cmp) []clientv3.Cmp { return c }

	e.txn("Value = true", cmps(C(V("t/a"), "=", "1")), ops(put("t/c", "3"), get("t/a")), ops(get("t/b")))
	e.txn("Value != false", cmps(C(V("t/a"), "!=", "1")), ops(put("t/x", "x")), ops(get("t/b")))
	e.txn("Value > bytewise", cmps(C(V("t/b"), ">", "2")), ops(get("t/b")), nil)
	e.txn("Value < false", cmps(C(V("t/a"), "<", "0")), nil, ops(get("t/a")))
	e.txn("Version =", cmps(C(Ver("t/b"), "=", 2)), ops(get("t/b")), nil)
	e.txn("Version >", cmps(C(Ver("t/a"), ">", 1)), nil, ops(get("t/a")))
	e.txn("Version <", cmps(C(Ver("t/a"), "<", 5)), ops(get("t/a")), nil)
	e.txn("Version !=", cmps(C(Ver("t/a"), "!=", 1)), nil, ops(get("t/a")))
	e.txn("CreateRevision =", cmps(C(CR("t/a"), "=", 2)), ops(get("t/a")), nil)
	e.txn("CreateRevision >", cmps(C(CR("t/b"), ">", 2)), ops(get("t/b")), nil)
	e.txn("CreateRevision <", cmps(C(CR("t/b"), "<", 3)), nil, ops(get("t/b")))
	e.txn("CreateRevision missing = 0 (create if absent)", cmps(C(CR("t/new"), "=", 0)), ops(put("t/new", "n")), nil)
	e.txn("ModRevision =", cmps(C(MR("t/b"), "=", 4)), ops(get("t/b")), nil)
	e.txn("ModRevision >", cmps(C(MR("t/b"), ">", 4)), nil, ops(get("t/b")))
	e.txn("ModRevision <", cmps(C(MR("t/a"), "<", 3)), ops(get("t/a")), nil)
	e.txn("ModRevision !=", cmps(C(MR("t/a"), "!=", 2)), nil, ops(get("t/a")))
	e.txn("LeaseValue = lease", cmps(C(LV("t/l"), "=", lease)), ops(get("t/l")), nil)
	e.txn("LeaseValue = 0 on key without lease", cmps(C(LV("t/a"), "=", 0)), ops(get("t/a")), nil)
	e.txn("LeaseValue != lease", cmps(C(LV("t/l"), "!=", lease)), nil, ops(get("t/l")))
	e.txn("LeaseValue on missing key = 0", cmps(C(LV("t/missing"), "=", 0)), ops(get("t/missing")), ops(get("t/a")))
	e.txn("Value on missing key", cmps(C(V("t/missing"), "=", "")), nil, ops(get("t/missing")))
	e.txn("Version on missing key = 0", cmps(C(Ver("t/missing"), "=", 0)), ops(get("t/missing")), nil)
	e.txn("ModRevision on missing key = 0", cmps(C(MR("t/missing"), "=", 0)), ops(get("t/missing")), nil)
	e.txn("Compare WithRange: all versions > 0", cmps(C(Ver("t/"), ">", 0).WithRange("t0")),
		ops(get("t/", clientv3.WithRange("t0"), clientv3.WithKeysOnly())), nil)
	e.txn("Compare WithRange: one value differs", cmps(C(V("t/a"), "=", "1").WithRange("t/c")), nil,
		ops(get("t/a", clientv3.WithRange("t/c"))))
	e.txn("Compare WithPrefix: all mod < 100", cmps(C(MR("t/"), "<", 100).WithPrefix()),
		ops(get("t/", clientv3.WithPrefix(), clientv3.WithCountOnly())), nil)
	e.txn("Compare WithPrefix over empty range", cmps(C(V("u/"), "=", "x").WithPrefix()), ops(get("t/a")), ops(get("t/b")))
	e.txn("multiple compares all true", cmps(C(V("t/a"), "=", "1"), C(Ver("t/b"), "=", 2), C(MR("t/b"), ">", 3)),
		ops(put("t/m1", "1"), put("t/m2", "2", clientv3.WithPrevKV()), del("t/c", clientv3.WithPrevKV()),
			get("t/", clientv3.WithPrefix(), clientv3.WithKeysOnly())), nil)
	e.txn("multiple compares one false", cmps(C(V("t/a"), "=", "1"), C(Ver("t/b"), "=", 7)),
		ops(put("t/m1", "x")),
		ops(put("t/a", "9", clientv3.WithPrevKV()), del("t/m", clientv3.WithRange("t/n"), clientv3.WithPrevKV())))
	// inner headers: a delete that deletes nothing reports the txn's revision so far
	e.txn("delete nothing, then put", nil, ops(del("t/none"), put("t/o1", "1"), get("t/o1")), nil)
	e.txn("put, then delete nothing", nil, ops(put("t/o2", "1"), del("t/none"), get("t/o2")), nil)
	e.txn("get, put, get, delete, get", nil, ops(get("t/o3"), put("t/o3", "2"), get("t/o3"), del("t/o2"), get("t/o2")), nil)
	e.txn("no compares", nil, ops(put("t/n", "1"), get("t/n")), nil)
	e.txn("empty txn", nil, nil, nil)
	e.txn("only If", cmps(C(V("t/a"), "=", "9")), nil, nil)
	e.txn("ops with options", nil, ops(
		get("t/", clientv3.WithPrefix(), clientv3.WithLimit(2), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend)),
		get("t/", clientv3.WithPrefix(), clientv3.WithCountOnly()),
		get("t/b", clientv3.WithRev(3)),
		get("t/", clientv3.WithPrefix(), clientv3.WithMinModRev(10), clientv3.WithKeysOnly()),
		put("t/l", "", clientv3.WithIgnoreValue(), clientv3.WithPrevKV()),
		put("t/n", "2", clientv3.WithLease(lease), clientv3.WithPrevKV())), nil)
	e.txn("nested OpTxn", cmps(C(V("t/a"), "=", "9")),
		ops(clientv3.OpTxn(cmps(C(Ver("t/n"), "=", 2)), ops(put("t/nested", "yes"), get("t/n")), ops(put("t/nested", "no"))),
			put("t/outer", "1")), nil)
	e.txn("nested OpTxn failure branch", nil,
		ops(clientv3.OpTxn(cmps(C(Ver("t/n"), "=", 5)), ops(put("t/nested", "yes")), ops(put("t/nested", "no2"), del("t/outer")))), nil)
	e.txn("doubly nested OpTxn", nil,
		ops(clientv3.OpTxn(nil, ops(clientv3.OpTxn(cmps(C(V("t/nested"), "=", "no2")), ops(get("t/nested")), nil)), nil)), nil)
	step("Do(OpTxn)", func(ctx context.Context) (interface{}, error) {
		r, err := e.c.Do(ctx, clientv3.OpTxn(cmps(C(V("t/a"), "=", "9")), ops(get("t/a")), nil))
		return r.Txn(), err
	})
	// errors
	e.txn("duplicate put (error)", nil, ops(put("t/d", "1"), put("t/d", "2")), nil)
	e.txn("put + delete same key (error)", nil, ops(put("t/d", "1"), del("t/d")), nil)
	e.txn("put + delete covering range (error)", nil, ops(put("t/d", "1"), del("t/c", clientv3.WithRange("t/e"))), nil)
	e.txn("nested put vs outer put (error)", nil, ops(put("t/d", "1"), clientv3.OpTxn(nil, ops(put("t/d", "2")), nil)), nil)
	e.txn("puts in both branches of a nested txn (allowed)", nil,
		ops(clientv3.OpTxn(nil, ops(put("t/d", "1")), ops(put("t/d", "2")))), nil)
	many := []clientv3.Op{}
	for i := 0; i < 129; i++ {
		many = append(many, get(fmt.Sprintf("t/many/%03d", i)))
	}
	e.txn("129 ops (error: too many operations)", nil, many, nil)
	e.txn("128 ops", nil, many[:128], nil)
	e.txn("put with unknown lease (error)", nil, ops(put("t/z", "z", clientv3.WithLease(clientv3.LeaseID(0x7777)))), nil)
	e.txn("get empty key in txn (error)", nil, ops(get("")), nil)
	e.txn("get future rev in txn (error)", nil, ops(get("t/a", clientv3.WithRev(10000))), nil)
	e.txn("put WithIgnoreValue missing key in txn (error)", nil, ops(put("t/nope", "", clientv3.WithIgnoreValue())), nil)
	e.get("state after errors", "t/", clientv3.WithPrefix())

	// Kubernetes apiserver patterns (staging/src/k8s.io/apiserver/pkg/storage/etcd3/store.go)
	key := "/registry/configmaps/default/cm"
	e.txn("apiserver Create", cmps(C(MR(key), "=", 0)), ops(put(key, "obj-v1", clientv3.WithLease(lease))), nil)
	e.txn("apiserver Create again (exists)", cmps(C(MR(key), "=", 0)), ops(put(key, "obj-dup")), nil)
	cur, _ := e.get("apiserver GuaranteedUpdate: read", key)
	origRev := int64(0)
	if cur != nil && len(cur.Kvs) == 1 {
		origRev = cur.Kvs[0].ModRevision
	}
	e.put("concurrent writer updates the object", key, "obj-other")
	r, _ := e.txn("apiserver GuaranteedUpdate: conflict (stale mod_revision)", cmps(C(MR(key), "=", origRev)),
		ops(put(key, "obj-v2")), ops(get(key)))
	if r != nil && !r.Succeeded && len(r.Responses) == 1 {
		kvs := r.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 1 {
			origRev = kvs[0].ModRevision
		}
	}
	e.txn("apiserver GuaranteedUpdate: retry with mod_revision from else", cmps(C(MR(key), "=", origRev)),
		ops(put(key, "obj-v2")), ops(get(key)))
	e.txn("apiserver Delete: stale precondition", cmps(C(MR(key), "=", origRev)),
		ops(del(key, clientv3.WithPrevKV())), ops(get(key)))
	cur, _ = e.get("apiserver Delete: read", key)
	if cur != nil && len(cur.Kvs) == 1 {
		origRev = cur.Kvs[0].ModRevision
	}
	e.txn("apiserver Delete", cmps(C(MR(key), "=", origRev)), ops(del(key, clientv3.WithPrevKV())), ops(get(key)))
	e.txn("apiserver Delete missing", cmps(C(MR(key), "=", origRev)), ops(del(key, clientv3.WithPrevKV())), ops(get(key)))
	e.get("apiserver Count", "/registry/", clientv3.WithRange(clientv3.GetPrefixRangeEnd("/registry/")), clientv3.WithCountOnly())
}

func scenarioPagination(e *env) {
	// 25 objects created in a scrambled order
	for i := 0; i < 25; i++ {
		n := (i * 7) % 25
		e.put(fmt.Sprintf("create pod-%02d", n), fmt.Sprintf("/registry/pods/ns/pod-%02d", n), fmt.Sprintf("spec-%d", n))
	}
	e.put("other namespace", "/registry/pods/other/pod-x", "x")
	e.put("other resource", "/registry/services/ns/svc", "s")
	prefix := "/registry/pods/ns/"
	end := clientv3.GetPrefixRangeEnd(prefix)
	e.get("count", prefix, clientv3.WithRange(end), clientv3.WithCountOnly())

	// apiserver list: limit + range + (after the first page) the revision of the first page
	list := func(name string, limit int64, writes func(page int)) {
		key := prefix
		var rev int64
		for page := 0; page < 10; page++ {
			opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(limit)}
			if rev != 0 {
				opts = append(opts, clientv3.WithRev(rev))
			}
			r, err := e.get(fmt.Sprintf("%s page %d", name, page), key, opts...)
			if err != nil || r == nil {
				return
			}
			if rev == 0 {
				rev = r.Header.Revision
			}
			if writes != nil {
				writes(page)
			}
			if !r.More || len(r.Kvs) == 0 {
				return
			}
			key = string(r.Kvs[len(r.Kvs)-1].Key) + "\x00"
		}
	}
	list("list limit 10", 10, nil)
	list("list limit 5 with concurrent writes", 5, func(page int) {
		switch page {
		case 0:
			e.put("concurrent update pod-20", prefix+"pod-20", "changed")
			e.put("concurrent create pod-07a", prefix+"pod-07a", "new")
			e.del("concurrent delete pod-15", prefix+"pod-15")
		case 2:
			e.put("concurrent create pod-99", prefix+"pod-99", "new")
		}
	})
	list("list limit 7 after writes", 7, nil)
	list("list limit 1", 1, nil)
	list("list limit 100", 100, nil)
	e.get("keys only page", prefix, clientv3.WithRange(end), clientv3.WithLimit(4), clientv3.WithKeysOnly())
	e.get("from key with limit", prefix+"pod-10", clientv3.WithFromKey(), clientv3.WithLimit(3), clientv3.WithKeysOnly())
	e.get("prefix with limit and min mod rev", prefix, clientv3.WithPrefix(), clientv3.WithLimit(2),
		clientv3.WithMinModRev(20), clientv3.WithKeysOnly())
	e.get("limit with sort key descend", prefix, clientv3.WithPrefix(), clientv3.WithLimit(3),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithKeysOnly())
	e.get("limit with sort create ascend", prefix, clientv3.WithPrefix(), clientv3.WithLimit(3),
		clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend), clientv3.WithKeysOnly())
	e.get("limit with sort mod descend", prefix, clientv3.WithPrefix(), clientv3.WithLimit(3),
		clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortDescend), clientv3.WithKeysOnly())
	e.get("list whole registry at old revision", "/registry/", clientv3.WithPrefix(), clientv3.WithRev(20),
		clientv3.WithKeysOnly(), clientv3.WithLimit(30))
}

func scenarioCompaction(e *env) {
	for i := 0; i < 10; i++ { // revs 2..11
		e.put(fmt.Sprintf("put c #%d", i), "c", fmt.Sprintf("v%d", i))
	}
	e.put("put gone", "gone", "x") // rev 12
	e.del("delete gone", "gone")   // rev 13
	e.get("Get WithRev 3 before compaction", "c", clientv3.WithRev(3))
	e.get("Get deleted key WithRev 12", "gone", clientv3.WithRev(12))
	step("HashKV rev 0", func(ctx context.Context) (interface{}, error) { return e.c.HashKV(ctx, e.ep, 0) })
	step("HashKV rev 7", func(ctx context.Context) (interface{}, error) { return e.c.HashKV(ctx, e.ep, 7) })
	step("HashKV future rev (error)", func(ctx context.Context) (interface{}, error) { return e.c.HashKV(ctx, e.ep, 1000) })
	compact := func(name string, rev int64, opts ...clientv3.CompactOption) {
		step(name, func(ctx context.Context) (interface{}, error) { return e.c.Compact(ctx, rev, opts...) })
	}
	compact("Compact 5", 5)
	e.get("Get WithRev 4 (error: compacted)", "c", clientv3.WithRev(4))
	e.get("Get WithRev 5 (the compacted revision)", "c", clientv3.WithRev(5))
	e.get("Get WithRev 6", "c", clientv3.WithRev(6))
	e.get("Get WithRev 0 (current)", "c")
	e.get("Get WithRev future (error)", "c", clientv3.WithRev(100))
	e.get("Get WithSerializable WithRev 4 (error)", "c", clientv3.WithRev(4), clientv3.WithSerializable())
	e.get("Get count only WithRev 3 (error)", "c", clientv3.WithRev(3), clientv3.WithCountOnly())
	compact("Compact 5 again (error)", 5)
	compact("Compact 4 (error)", 4)
	compact("Compact future (error)", 100)
	compact("Compact current+1 (error)", 14)
	step("HashKV rev 4 (error: compacted)", func(ctx context.Context) (interface{}, error) { return e.c.HashKV(ctx, e.ep, 4) })
	step("HashKV rev 9", func(ctx context.Context) (interface{}, error) { return e.c.HashKV(ctx, e.ep, 9) })
	compact("Compact 8 WithCompactPhysical", 8, clientv3.WithCompactPhysical())
	e.get("Get WithRev 7 after physical (error)", "c", clientv3.WithRev(7))
	e.get("Get WithRev 8 after physical", "c", clientv3.WithRev(8))
	e.txn("Txn get at compacted revision (error)", nil, []clientv3.Op{clientv3.OpGet("c", clientv3.WithRev(3))}, nil)
	e.txn("Txn get at compacted revision in else (not run)", []clientv3.Cmp{clientv3.Compare(clientv3.Version("c"), ">", 0)},
		[]clientv3.Op{clientv3.OpGet("c")}, []clientv3.Op{clientv3.OpGet("c", clientv3.WithRev(3))})
	compact("Compact 13 (current revision)", 13, clientv3.WithCompactPhysical())
	e.get("Get deleted key WithRev 13 after compaction", "gone", clientv3.WithRev(13))
	e.get("Get deleted key WithRev 12 after compaction (error)", "gone", clientv3.WithRev(12))
	e.get("Get all after compaction", "", clientv3.WithPrefix())
	step("HashKV rev 0 after compaction", func(ctx context.Context) (interface{}, error) { return e.c.HashKV(ctx, e.ep, 0) })
	step("HashKV at the compacted revision 13", func(ctx context.Context) (interface{}, error) { return e.c.HashKV(ctx, e.ep, 13) })
	e.put("put after compaction", "c", "after")
	e.get("Get after compaction put (version continues)", "c")

	// apiserver compactor (staging/src/k8s.io/apiserver/pkg/storage/etcd3/compact.go)
	ck := "compact_rev_key"
	r, _ := e.txn("apiserver compactor: first round", []clientv3.Cmp{clientv3.Compare(clientv3.Version(ck), "=", 0)},
		[]clientv3.Op{clientv3.OpPut(ck, "14")}, []clientv3.Op{clientv3.OpGet(ck)})
	if r != nil {
		compact("apiserver compactor: compact to txn revision", r.Header.Revision)
	}
	e.txn("apiserver compactor: stale version", []clientv3.Cmp{clientv3.Compare(clientv3.Version(ck), "=", 0)},
		[]clientv3.Op{clientv3.OpPut(ck, "15")}, []clientv3.Op{clientv3.OpGet(ck)})
	e.txn("apiserver compactor: second round", []clientv3.Cmp{clientv3.Compare(clientv3.Version(ck), "=", 1)},
		[]clientv3.Op{clientv3.OpPut(ck, "16")}, []clientv3.Op{clientv3.OpGet(ck)})

	// apiserver list continuation over a compaction: 410 Gone
	for i := 0; i < 4; i++ {
		e.put(fmt.Sprintf("list obj %d", i), fmt.Sprintf("/l/%d", i), "x")
	}
	p1, _ := e.get("list page 1", "/l/", clientv3.WithPrefix(), clientv3.WithLimit(2))
	if p1 != nil && len(p1.Kvs) > 0 {
		e.put("write after page 1", "/l/9", "x")
		compact("compaction after page 1", p1.Header.Revision+1)
		e.get("list page 2 at compacted revision (error)", string(p1.Kvs[len(p1.Kvs)-1].Key)+"\x00",
			clientv3.WithRange(clientv3.GetPrefixRangeEnd("/l/")), clientv3.WithLimit(2), clientv3.WithRev(p1.Header.Revision))
	}
	step("Status after compactions", func(ctx context.Context) (interface{}, error) { return e.c.Status(ctx, e.ep) })
}

func scenarioMaintenance(e *env) {
	st, _ := step("Status", func(ctx context.Context) (interface{}, error) { return e.c.Status(ctx, e.ep) })
	var self uint64
	if s, ok := st.(*clientv3.StatusResponse); ok && s != nil {
		self = s.Header.MemberId
	}
	step("MemberList", func(ctx context.Context) (interface{}, error) { return e.c.MemberList(ctx) })
	for i := 0; i < 5; i++ {
		e.put(fmt.Sprintf("put m%d", i), fmt.Sprintf("m%d", i), "v")
	}
	step("HashKV rev 0", func(ctx context.Context) (interface{}, error) { return e.c.HashKV(ctx, e.ep, 0) })
	step("HashKV rev 3", func(ctx context.Context) (interface{}, error) { return e.c.HashKV(ctx, e.ep, 3) })
	h1, _ := step("HashKV rev 4", func(ctx context.Context) (interface{}, error) { return e.c.HashKV(ctx, e.ep, 4) })
	h2, _ := step("HashKV rev 4 again", func(ctx context.Context) (interface{}, error) { return e.c.HashKV(ctx, e.ep, 4) })
	if a, ok := h1.(*clientv3.HashKVResponse); ok {
		if b, ok := h2.(*clientv3.HashKVResponse); ok {
			note("HashKV rev 4 stable", a.Hash == b.Hash)
		}
	}
	step("Defragment", func(ctx context.Context) (interface{}, error) { return e.c.Defragment(ctx, e.ep) })
	step("Status after defragment", func(ctx context.Context) (interface{}, error) { return e.c.Status(ctx, e.ep) })
	h3, _ := step("HashKV rev 4 after defragment", func(ctx context.Context) (interface{}, error) { return e.c.HashKV(ctx, e.ep, 4) })
	if a, ok := h1.(*clientv3.HashKVResponse); ok {
		if b, ok := h3.(*clientv3.HashKVResponse); ok {
			note("HashKV rev 4 unchanged by defragment", a.Hash == b.Hash)
		}
	}
	step("AlarmList", func(ctx context.Context) (interface{}, error) { return e.c.AlarmList(ctx) })
	step("AlarmDisarm NOSPACE (none raised)", func(ctx context.Context) (interface{}, error) {
		return e.c.AlarmDisarm(ctx, &clientv3.AlarmMember{MemberID: self, Alarm: pb.AlarmType_NOSPACE})
	})
	step("AlarmDisarm all (zero member)", func(ctx context.Context) (interface{}, error) {
		return e.c.AlarmDisarm(ctx, &clientv3.AlarmMember{})
	})
	step("MoveLeader to self", func(ctx context.Context) (interface{}, error) { return e.c.MoveLeader(ctx, self) })
	step("MoveLeader to unknown member (error)", func(ctx context.Context) (interface{}, error) {
		return e.c.MoveLeader(ctx, 0x1234567)
	})
	step("Snapshot", func(ctx context.Context) (interface{}, error) {
		rc, err := e.c.Snapshot(ctx)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		n, err := io.Copy(ioutil.Discard, rc)
		return map[string]interface{}{"nonempty": n > 0}, err
	})
	step("Sync (endpoints from MemberList)", func(ctx context.Context) (interface{}, error) {
		err := e.c.Sync(ctx)
		return e.c.Endpoints(), err
	})
	step("Get with a WithRequireLeader ctx", func(ctx context.Context) (interface{}, error) {
		return e.c.Get(clientv3.WithRequireLeader(ctx), "m0")
	})
	step("Status at end", func(ctx context.Context) (interface{}, error) { return e.c.Status(ctx, e.ep) })
	step("MemberList again", func(ctx context.Context) (interface{}, error) { return e.c.MemberList(ctx) })
}

// alarm_nospace runs against servers started with a tiny --quota-backend-bytes.
func scenarioAlarmNoSpace(e *env) {
	st, _ := step("Status", func(ctx context.Context) (interface{}, error) { return e.c.Status(ctx, e.ep) })
	var self uint64
	if s, ok := st.(*clientv3.StatusResponse); ok && s != nil {
		self = s.Header.MemberId
	}
	step("AlarmList before", func(ctx context.Context) (interface{}, error) { return e.c.AlarmList(ctx) })
	e.put("put exceeding the quota (error)", "k", strings.Repeat("x", 4096))
	step("AlarmList after", func(ctx context.Context) (interface{}, error) { return e.c.AlarmList(ctx) })
	e.put("put while NOSPACE (error)", "k2", "v")
	e.get("get while NOSPACE", "k", clientv3.WithPrefix())
	e.del("delete while NOSPACE", "k")
	e.txn("txn with put while NOSPACE (error)", nil, []clientv3.Op{clientv3.OpPut("k3", "v")}, nil)
	e.txn("read-only txn while NOSPACE", nil, []clientv3.Op{clientv3.OpGet("k")}, nil)
	e.grant("lease grant while NOSPACE (error)", 60)
	step("Status while NOSPACE", func(ctx context.Context) (interface{}, error) { return e.c.Status(ctx, e.ep) })
	step("AlarmDisarm NOSPACE", func(ctx context.Context) (interface{}, error) {
		return e.c.AlarmDisarm(ctx, &clientv3.AlarmMember{MemberID: self, Alarm: pb.AlarmType_NOSPACE})
	})
	step("AlarmList after disarm", func(ctx context.Context) (interface{}, error) { return e.c.AlarmList(ctx) })
	e.put("put after disarm, still over quota (error)", "k4", strings.Repeat("y", 4096))
	step("AlarmList re-raised", func(ctx context.Context) (interface{}, error) { return e.c.AlarmList(ctx) })
	step("AlarmDisarm all", func(ctx context.Context) (interface{}, error) {
		return e.c.AlarmDisarm(ctx, &clientv3.AlarmMember{})
	})
	step("AlarmList after disarm all", func(ctx context.Context) (interface{}, error) { return e.c.AlarmList(ctx) })
}

func scenarioLease(e *env) {
	l1 := e.grant("Grant 60", 60)
	short := []clientv3.LeaseID{
		e.grant("Grant 1 (raised to the minimum TTL)", 1),
		e.grant("Grant 0", 0),
		e.grant("Grant -5", -5),
	}
	e.grant("Grant too large (error)", 9000000001)
	lmax := e.grant("Grant max TTL", 9000000000)
	step("Leases", func(ctx context.Context) (interface{}, error) { return e.c.Leases(ctx) })
	// revoke the short ones now: their expiry would make later steps timing dependent
	for i, id := range append(short, lmax) {
		step(fmt.Sprintf("Revoke granted lease #%d", i+1), func(ctx context.Context) (interface{}, error) {
			return e.c.Revoke(ctx, id)
		})
	}
	step("Leases after revokes", func(ctx context.Context) (interface{}, error) { return e.c.Leases(ctx) })
	e.put("put k1 WithLease", "k1", "v1", clientv3.WithLease(l1))
	e.put("put k2 WithLease", "k2", "v2", clientv3.WithLease(l1))
	e.put("put k3 WithLease", "k3", "v3", clientv3.WithLease(l1))
	e.del("delete k3 (detaches)", "k3")
	e.get("get k1", "k1")
	e.timeToLive("TimeToLive", l1)
	e.timeToLive("TimeToLive WithAttachedKeys", l1, clientv3.WithAttachedKeys())
	e.timeToLive("TimeToLive unknown lease", clientv3.LeaseID(0x1234abcd))
	e.timeToLive("TimeToLive unknown lease WithAttachedKeys", clientv3.LeaseID(0x1234abcd), clientv3.WithAttachedKeys())
	step("KeepAliveOnce", func(ctx context.Context) (interface{}, error) { return e.c.KeepAliveOnce(ctx, l1) })
	step("KeepAliveOnce unknown lease (error)", func(ctx context.Context) (interface{}, error) {
		return e.c.KeepAliveOnce(ctx, clientv3.LeaseID(0x1234abcd))
	})
	l3 := e.grant("Grant 3 for KeepAlive", 3)
	step("KeepAlive: 3 responses", func(ctx context.Context) (interface{}, error) {
		kctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ch, err := e.c.KeepAlive(kctx, l3)
		if err != nil {
			return nil, err
		}
		resps := []interface{}{}
		for len(resps) < 3 {
			select {
			case r, ok := <-ch:
				if !ok {
					return resps, errors.New("keepalive channel closed")
				}
				resps = append(resps, r)
			case <-ctx.Done():
				return resps, ctx.Err()
			}
		}
		return resps, nil
	})
	e.timeToLive("TimeToLive after KeepAlive", l3)
	step("KeepAlive unknown lease: channel closes", func(ctx context.Context) (interface{}, error) {
		kctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ch, err := e.c.KeepAlive(kctx, clientv3.LeaseID(0x1234abcd))
		if err != nil {
			return nil, err
		}
		n := 0
		for {
			select {
			case _, ok := <-ch:
				if !ok {
					return map[string]interface{}{"closed": true, "responses": n}, nil
				}
				n++
			case <-ctx.Done():
				return map[string]interface{}{"closed": false, "responses": n}, ctx.Err()
			}
		}
	})
	// reattach: k2 moves from l1 to l2
	l2 := e.grant("Grant 120", 120)
	e.put("put k2 WithLease l2", "k2", "v2b", clientv3.WithLease(l2), clientv3.WithPrevKV())
	e.timeToLive("TimeToLive l1 keys after move", l1, clientv3.WithAttachedKeys())
	e.timeToLive("TimeToLive l2 keys after move", l2, clientv3.WithAttachedKeys())
	e.txn("txn put WithLease", nil, []clientv3.Op{clientv3.OpPut("k4", "v4", clientv3.WithLease(l1))}, nil)
	e.timeToLive("TimeToLive l1 keys after txn", l1, clientv3.WithAttachedKeys())
	step("Revoke l1", func(ctx context.Context) (interface{}, error) { return e.c.Revoke(ctx, l1) })
	e.get("keys after revoke", "k", clientv3.WithPrefix())
	step("Revoke l1 again (error)", func(ctx context.Context) (interface{}, error) { return e.c.Revoke(ctx, l1) })
	e.timeToLive("TimeToLive revoked", l1)
	e.timeToLive("TimeToLive revoked WithAttachedKeys", l1, clientv3.WithAttachedKeys())
	step("KeepAliveOnce revoked (error)", func(ctx context.Context) (interface{}, error) { return e.c.KeepAliveOnce(ctx, l1) })
	e.put("put WithLease revoked (error)", "k5", "v", clientv3.WithLease(l1))
	step("Revoke unknown (error)", func(ctx context.Context) (interface{}, error) {
		return e.c.Revoke(ctx, clientv3.LeaseID(0x1234abcd))
	})
	step("Leases before expiry test", func(ctx context.Context) (interface{}, error) { return e.c.Leases(ctx) })
	// expiry
	l4 := e.grant("Grant 2 for expiry", 2)
	pr, _ := e.put("put exp WithLease", "exp", "x", clientv3.WithLease(l4))
	step("wait until the key expires", func(ctx context.Context) (interface{}, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		for {
			r, err := e.c.Get(ctx, "exp")
			if err != nil {
				return nil, err
			}
			if len(r.Kvs) == 0 {
				return map[string]interface{}{"expired": true}, nil
			}
			select {
			case <-ctx.Done():
				return map[string]interface{}{"expired": false}, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	e.timeToLive("TimeToLive expired", l4)
	step("Revoke expired (error)", func(ctx context.Context) (interface{}, error) { return e.c.Revoke(ctx, l4) })
	if pr != nil {
		e.get("history: expired key at its put revision", "exp", clientv3.WithRev(pr.Header.Revision))
	}
	e.get("all keys at end", "", clientv3.WithPrefix())
	le := clientv3.NewLease(e.c)
	le.Close()
	e.grantWith("Grant through a closed clientv3.Lease (unary: still works)", le, 60)
}

// stmResult renders an STM commit; its ops come from Go map iteration (the
// write set), so the responses are sorted.
func stmResult(r *clientv3.TxnResponse) interface{} {
	if r == nil {
		return nil
	}
	m := enc(reflect.ValueOf(r)).(map[string]interface{})
	if l, ok := m["responses"].([]interface{}); ok {
		sort.Slice(l, func(i, j int) bool {
			a, _ := json.Marshal(l[i])
			b, _ := json.Marshal(l[j])
			return string(a) < string(b)
		})
	}
	return m
}

func scenarioSTM(e *env) {
	e.put("setup a", "acct/a", "100")
	e.put("setup b", "acct/b", "50")
	transfer := func(amount int) func(concurrency.STM) error {
		return func(s concurrency.STM) error {
			var a, b int
			fmt.Sscan(s.Get("acct/a"), &a)
			fmt.Sscan(s.Get("acct/b"), &b)
			s.Put("acct/a", fmt.Sprint(a-amount))
			s.Put("acct/b", fmt.Sprint(b+amount))
			return nil
		}
	}
	for _, iso := range []struct {
		name string
		lvl  concurrency.Isolation
	}{{"SerializableSnapshot", concurrency.SerializableSnapshot}, {"Serializable", concurrency.Serializable},
		{"RepeatableReads", concurrency.RepeatableReads}, {"ReadCommitted", concurrency.ReadCommitted}} {
		step("STM "+iso.name+" transfer", func(ctx context.Context) (interface{}, error) {
			r, err := concurrency.NewSTM(e.c, transfer(10), concurrency.WithIsolation(iso.lvl), concurrency.WithAbortContext(ctx))
			return stmResult(r), err
		})
		// a conflicting write during the first attempt forces a retry (except ReadCommitted)
		attempts := 0
		step("STM "+iso.name+" conflict and retry", func(ctx context.Context) (interface{}, error) {
			r, err := concurrency.NewSTM(e.c, func(s concurrency.STM) error {
				attempts++
				v := s.Get("acct/a")
				if attempts == 1 {
					if _, err := e.c.Put(ctx, "acct/a", "1000"); err != nil {
						return err
					}
				}
				s.Put("acct/c", v) // one write only: the write set's op order is random
				return nil
			}, concurrency.WithIsolation(iso.lvl), concurrency.WithAbortContext(ctx), concurrency.WithPrefetch("acct/b"))
			return stmResult(r), err
		})
		note("STM "+iso.name+" attempts", attempts)
		e.get("accounts after "+iso.name, "acct/", clientv3.WithPrefix())
	}
	step("STM apply error aborts", func(ctx context.Context) (interface{}, error) {
		r, err := concurrency.NewSTM(e.c, func(s concurrency.STM) error {
			s.Put("acct/x", "x")
			return errors.New("abort")
		}, concurrency.WithAbortContext(ctx))
		return stmResult(r), err
	})
	e.get("accounts at end", "acct/", clientv3.WithPrefix())
}

// ---------------------------------------------------------------------------
// watch

type watchCollector struct {
	ch   clientv3.WatchChan
	done bool
}

func renderWatchResponse(wr clientv3.WatchResponse) map[string]interface{} {
	m := enc(reflect.ValueOf(wr)).(map[string]interface{})
	m["IsProgressNotify()"] = wr.IsProgressNotify()
	m["Err()"] = errInfo(wr.Err())
	return m
}

// collect reads responses until `events` events (or a canceled / created
// response matching `special`) arrived, then drains for a short quiet period.
func (w *watchCollector) collect(name string, events int, special func(clientv3.WatchResponse) bool) {
	resps := []interface{}{}
	n := 0
	deadline := time.After(stepTimeout)
	quiet := (<-chan time.Time)(nil)
	var err error
	if events == 0 && special == nil { // nothing expected: just drain a short while
		quiet = time.After(300 * time.Millisecond)
	}
loop:
	for !w.done {
		select {
		case wr, ok := <-w.ch:
			if !ok {
				w.done = true
				resps = append(resps, map[string]interface{}{"channel": "closed"})
				break loop
			}
			resps = append(resps, renderWatchResponse(wr))
			n += len(wr.Events)
			if (events > 0 && n >= events) || (special != nil && special(wr)) {
				if quiet == nil {
					quiet = time.After(150 * time.Millisecond)
				}
			}
		case <-quiet:
			break loop
		case <-deadline:
			err = fmt.Errorf("timeout: got %d of %d events", n, events)
			break loop
		}
	}
	emit(record{Step: name, Result: resps, Error: errInfo(err)})
}

func (e *env) watch(ctx context.Context, key string, opts ...clientv3.OpOption) *watchCollector {
	return &watchCollector{ch: e.c.Watch(ctx, key, opts...)}
}

func isCreated(wr clientv3.WatchResponse) bool  { return wr.Created }
func isCanceled(wr clientv3.WatchResponse) bool { return wr.Canceled }
func isProgress(wr clientv3.WatchResponse) bool { return wr.IsProgressNotify() }

func scenarioWatch(e *env) {
	bg, cancelAll := context.WithCancel(context.Background())
	defer cancelAll()
	e.put("put a=1", "a", "1") // 2
	e.put("put a=2", "a", "2") // 3
	e.put("put b=1", "b", "1") // 4
	e.del("delete a", "a")     // 5

	w1 := e.watch(bg, "a", clientv3.WithRev(2))
	w1.collect("Watch a WithRev 2 (history)", 3, nil)
	w2 := e.watch(bg, "w/", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	w2.collect("Watch w/ WithPrefix WithCreatedNotify: created", 0, isCreated)
	e.put("put w/x", "w/x", "1")
	w2.collect("WithPrefix: event put w/x", 1, nil)
	e.put("put w/y", "w/y", "2")
	w2.collect("WithPrefix: event put w/y", 1, nil)
	e.txn("txn put w/z + delete w/x", nil, []clientv3.Op{clientv3.OpPut("w/z", "3"), clientv3.OpDelete("w/x")}, nil)
	w2.collect("WithPrefix: txn events in one response", 2, nil)
	e.put("put outside prefix", "wz", "no")
	e.put("put w/y again", "w/y", "2b")
	w2.collect("WithPrefix: only matching key", 1, nil)
	e.del("delete range w/ ", "w/", clientv3.WithPrefix())
	w2.collect("WithPrefix: range delete events", 2, nil)

	w3 := e.watch(bg, "p", clientv3.WithPrevKV(), clientv3.WithCreatedNotify())
	w3.collect("Watch p WithPrevKV: created", 0, isCreated)
	e.put("put p=1", "p", "1")
	e.put("put p=2", "p", "2")
	e.del("delete p", "p")
	w3.collect("WithPrevKV events", 3, nil)

	w4 := e.watch(bg, "f/", clientv3.WithPrefix(), clientv3.WithFilterPut(), clientv3.WithCreatedNotify())
	w4.collect("Watch f/ WithFilterPut: created", 0, isCreated)
	w5 := e.watch(bg, "f/", clientv3.WithPrefix(), clientv3.WithFilterDelete(), clientv3.WithCreatedNotify())
	w5.collect("Watch f/ WithFilterDelete: created", 0, isCreated)
	e.put("put f/1", "f/1", "x")
	e.del("delete f/1", "f/1")
	w4.collect("WithFilterPut sees the delete only", 1, nil)
	w5.collect("WithFilterDelete sees the put only", 1, nil)

	w6 := e.watch(bg, "g/b", clientv3.WithRange("g/d"), clientv3.WithCreatedNotify())
	w6.collect("Watch WithRange [g/b, g/d): created", 0, isCreated)
	w7 := e.watch(bg, "g/c", clientv3.WithFromKey(), clientv3.WithCreatedNotify())
	w7.collect("Watch WithFromKey g/c: created", 0, isCreated)
	for _, k := range []string{"g/a", "g/b", "g/c", "g/d", "h"} {
		e.put("put "+k, k, "v")
	}
	w6.collect("WithRange events (g/b, g/c)", 2, nil)
	w7.collect("WithFromKey events (g/c, g/d, h)", 3, nil)

	// history + prev kv, from a revision in the middle
	w8 := e.watch(bg, "p", clientv3.WithRev(1), clientv3.WithPrevKV())
	w8.collect("Watch p WithRev 1 WithPrevKV (history)", 3, nil)

	// future revision: events start at that revision
	st, _ := e.get("current revision", "none")
	if st != nil {
		cur := st.Header.Revision
		w9 := e.watch(bg, "fut", clientv3.WithRev(cur+3))
		for i := 0; i < 4; i++ {
			e.put(fmt.Sprintf("put fut #%d", i), "fut", fmt.Sprint(i))
		}
		w9.collect("Watch WithRev current+3 (future): last 2 puts", 2, nil)
	}

	// RequestProgress on a synced watcher
	w10 := e.watch(bg, "prog", clientv3.WithCreatedNotify())
	w10.collect("Watch prog: created", 0, isCreated)
	step("RequestProgress", func(ctx context.Context) (interface{}, error) { return nil, e.c.RequestProgress(ctx) })
	w10.collect("progress notification after RequestProgress", 0, isProgress)

	// two watchers on the same key get the same events
	w11 := e.watch(bg, "same", clientv3.WithCreatedNotify())
	w11.collect("Watch same #1: created", 0, isCreated)
	w12 := e.watch(bg, "same", clientv3.WithCreatedNotify())
	w12.collect("Watch same #2: created", 0, isCreated)
	e.put("put same", "same", "1")
	w11.collect("same #1 event", 1, nil)
	w12.collect("same #2 event", 1, nil)

	// the apiserver watches with clientv3.WithRequireLeader (gRPC metadata
	// hasleader=true; a separate stream)
	rl := clientv3.WithRequireLeader(bg)
	w16 := e.watch(rl, "rl", clientv3.WithCreatedNotify(), clientv3.WithPrevKV())
	w16.collect("Watch WithRequireLeader ctx: created", 0, isCreated)
	e.put("put rl", "rl", "1")
	w16.collect("WithRequireLeader watch event", 1, nil)
	step("Get with a WithRequireLeader ctx", func(ctx context.Context) (interface{}, error) {
		return e.c.Get(clientv3.WithRequireLeader(ctx), "rl")
	})

	// cancel through the context: the channel closes
	cctx, ccancel := context.WithCancel(bg)
	w13 := e.watch(cctx, "c", clientv3.WithCreatedNotify())
	w13.collect("Watch c: created", 0, isCreated)
	ccancel()
	w13.collect("Watch c: channel closes after cancel", 0, nil)

	// compacted revision: canceled with compact_revision
	st, _ = e.get("revision before compaction", "none")
	if st != nil {
		step("Compact to current revision", func(ctx context.Context) (interface{}, error) {
			return e.c.Compact(ctx, st.Header.Revision)
		})
		w14 := e.watch(bg, "a", clientv3.WithRev(2))
		w14.collect("Watch WithRev 2 after compaction (canceled, ErrCompacted)", 0, isCanceled)
		w14.collect("compacted watch: channel closed", 0, nil)
		w15 := e.watch(bg, "a", clientv3.WithRev(st.Header.Revision), clientv3.WithCreatedNotify())
		w15.collect("Watch at the compacted revision itself: created", 0, isCreated)
		e.put("put a after compaction", "a", "3")
		w15.collect("event after compaction", 1, nil)
	}
	// the earlier watchers saw nothing more
	w2.collect("w/ watcher: no more events", 0, nil)
	w1.collect("a history watcher: later a events", 1, nil)
}

// watch_progress runs against servers started with
// --experimental-watch-progress-notify-interval=1s.
func scenarioWatchProgress(e *env) {
	bg, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.put("put k", "k", "1")
	w := e.watch(bg, "k", clientv3.WithProgressNotify(), clientv3.WithCreatedNotify())
	w.collect("Watch WithProgressNotify: created", 0, isCreated)
	w.collect("periodic progress notification", 0, isProgress)
	e.put("put other key", "other", "1")
	w.collect("progress notification carries the new revision", 0, isProgress)
	e.put("put k", "k", "2")
	w.collect("event", 1, nil)
	w2 := e.watch(bg, "k2", clientv3.WithCreatedNotify())
	w2.collect("Watch without WithProgressNotify: created", 0, isCreated)
	step("RequestProgress", func(ctx context.Context) (interface{}, error) { return nil, e.c.RequestProgress(ctx) })
	w2.collect("RequestProgress reaches a watcher without WithProgressNotify", 0, isProgress)
}

// ---------------------------------------------------------------------------
// concurrency (needs Watch)

func (e *env) session(name string, ttl int) *concurrency.Session {
	s, err := concurrency.NewSession(e.c, concurrency.WithTTL(ttl))
	rec := record{Step: name, Error: errInfo(err)}
	if s != nil {
		rec.Result = map[string]interface{}{"lease": int64(s.Lease())}
		rec.NewLeases = []int64{int64(s.Lease())}
	}
	emit(rec)
	return s
}

func waitDone(name string, done <-chan error, within time.Duration) {
	select {
	case err := <-done:
		emit(record{Step: name, Result: map[string]interface{}{"returned": true}, Error: errInfo(err)})
	case <-time.After(within):
		emit(record{Step: name, Result: map[string]interface{}{"returned": false}})
	}
}

func notDone(name string, done <-chan error) {
	select {
	case err := <-done:
		emit(record{Step: name, Result: map[string]interface{}{"returned": true}, Error: errInfo(err)})
	case <-time.After(300 * time.Millisecond):
		emit(record{Step: name, Result: map[string]interface{}{"returned": false}})
	}
}

func scenarioConcurrency(e *env) {
	s1 := e.session("NewSession s1 (TTL 30)", 30)
	s2 := e.session("NewSession s2 (TTL 30)", 30)
	if s1 == nil || s2 == nil {
		return
	}
	e.timeToLive("session lease", s1.Lease())

	m1 := concurrency.NewMutex(s1, "/lock/")
	m2 := concurrency.NewMutex(s2, "/lock/")
	step("m1.Lock", func(ctx context.Context) (interface{}, error) {
		err := m1.Lock(ctx)
		return map[string]interface{}{"key": m1.Key(), "header": m1.Header()}, err
	})
	m2done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*stepTimeout)
		defer cancel()
		m2done <- m2.Lock(ctx)
	}()
	notDone("m2.Lock blocks while m1 holds the lock", m2done)
	e.get("lock keys (by create revision)", "/lock/", clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	e.txn("txn If m1.IsOwner()", []clientv3.Cmp{m1.IsOwner()}, []clientv3.Op{clientv3.OpPut("guarded", "m1")}, nil)
	step("m1.Unlock", func(ctx context.Context) (interface{}, error) { return nil, m1.Unlock(ctx) })
	waitDone("m2.Lock returns after m1.Unlock", m2done, 3*stepTimeout)
	note("m2 key and header", map[string]interface{}{"key": m2.Key(), "header": m2.Header()})
	e.txn("txn If m1.IsOwner() after unlock", []clientv3.Cmp{m1.IsOwner()}, []clientv3.Op{clientv3.OpPut("guarded", "m1")}, nil)
	e.txn("txn If m2.IsOwner()", []clientv3.Cmp{m2.IsOwner()}, []clientv3.Op{clientv3.OpPut("guarded", "m2")}, nil)
	step("m2.Unlock", func(ctx context.Context) (interface{}, error) { return nil, m2.Unlock(ctx) })
	step("NewLocker Lock/Unlock", func(ctx context.Context) (interface{}, error) {
		l := concurrency.NewLocker(s1, "/locker/")
		l.Lock()
		r, err := e.c.Get(ctx, "/locker/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		l.Unlock()
		return r, err
	})
	step("m1.Lock with expired context (error)", func(ctx context.Context) (interface{}, error) {
		c2, cancel := context.WithCancel(ctx)
		cancel()
		return nil, m1.Lock(c2)
	})

	e1 := concurrency.NewElection(s1, "/elect/")
	e2 := concurrency.NewElection(s2, "/elect/")
	step("e1.Leader with no leader (error)", func(ctx context.Context) (interface{}, error) { return e1.Leader(ctx) })
	step("e1.Proclaim when not leader (error)", func(ctx context.Context) (interface{}, error) { return nil, e1.Proclaim(ctx, "x") })
	step("e1.Campaign v1", func(ctx context.Context) (interface{}, error) {
		err := e1.Campaign(ctx, "v1")
		return map[string]interface{}{"key": e1.Key(), "rev": e1.Rev(), "header": e1.Header()}, err
	})
	step("e1.Leader", func(ctx context.Context) (interface{}, error) { return e1.Leader(ctx) })
	step("e1.Proclaim v1b", func(ctx context.Context) (interface{}, error) { return nil, e1.Proclaim(ctx, "v1b") })
	step("e2.Leader sees v1b", func(ctx context.Context) (interface{}, error) { return e2.Leader(ctx) })
	octx, ocancel := context.WithCancel(context.Background())
	obs := e2.Observe(octx)
	step("Observe: first response", func(ctx context.Context) (interface{}, error) {
		select {
		case r := <-obs:
			return r, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	e2done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*stepTimeout)
		defer cancel()
		e2done <- e2.Campaign(ctx, "v2")
	}()
	notDone("e2.Campaign blocks while e1 leads", e2done)
	step("e1.Resign", func(ctx context.Context) (interface{}, error) { return nil, e1.Resign(ctx) })
	waitDone("e2.Campaign returns after e1.Resign", e2done, 3*stepTimeout)
	step("Observe: new leader", func(ctx context.Context) (interface{}, error) {
		for {
			select {
			case r := <-obs:
				if len(r.Kvs) == 1 && string(r.Kvs[0].Value) == "v2" {
					return r, nil
				}
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	})
	ocancel()
	step("e1.Leader after e2 won", func(ctx context.Context) (interface{}, error) { return e1.Leader(ctx) })
	step("e2.Resign", func(ctx context.Context) (interface{}, error) { return nil, e2.Resign(ctx) })
	step("e1.Leader after resign (error)", func(ctx context.Context) (interface{}, error) { return e1.Leader(ctx) })

	step("s1.Close (revokes the lease)", func(ctx context.Context) (interface{}, error) { return nil, s1.Close() })
	e.timeToLive("s1 lease after Close", s1.Lease())
	step("s2.Orphan + Close", func(ctx context.Context) (interface{}, error) {
		s2.Orphan()
		return nil, s2.Close()
	})
	e.get("remaining keys", "/", clientv3.WithPrefix())
}

// ---------------------------------------------------------------------------

func main() {
	flag.DurationVar(&stepTimeout, "step-timeout", stepTimeout, "deadline of one step")
	list := flag.Bool("list", false, "print the scenario names and exit")
	flag.Parse()
	if *list {
		names := []string{}
		for n := range scenarios {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Println(strings.Join(names, "\n"))
		return
	}
	if flag.NArg() != 2 || scenarios[flag.Arg(1)] == nil {
		fmt.Fprintln(os.Stderr, "usage: clientv3_compat [-step-timeout 5s] <endpoint> <scenario>  (-list for names)")
		os.Exit(2)
	}
	ep, name := flag.Arg(0), flag.Arg(1)
	// grpc / clientv3 logs would interleave with nothing we compare: keep
	// warnings+errors on stderr only.
	clientv3.SetLogger(grpclog.NewLoggerV2(ioutil.Discard, os.Stderr, os.Stderr))
	lc := zap.NewProductionConfig()
	lc.Level = zap.NewAtomicLevelAt(zap.ErrorLevel)
	lc.OutputPaths, lc.ErrorOutputPaths = []string{"stderr"}, []string{"stderr"}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{ep},
		DialTimeout: 5 * time.Second,
		DialOptions: []grpc.DialOption{grpc.WithBlock()},
		LogConfig:   &lc,
	})
	if err != nil {
		emit(record{Step: "connect", Error: errInfo(err)})
		os.Exit(1)
	}
	defer c.Close()
	scenarios[name](&env{c: c, ep: ep})
	emit(record{Step: "<end>"})
}

var _ = mvccpb.PUT

func newEncoder() *json.Encoder {
	e := json.NewEncoder(os.Stdout)
	e.SetEscapeHTML(false)
	return e
}
