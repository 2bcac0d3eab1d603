package massconn

import (
	"encoding/json"
	"errors"
	"sort"
	"strings"

	"github.com/massconn/massconn/xk6-massconn/engine/protocol"
)

// protocolKeys lists each adapter's options (besides name).
var protocolKeys = map[string][]string{
	"centrifugo": {"name", "token", "data", "channels", "client"},
	"socketio":   {"name", "namespace", "auth", "events"},
	"phoenix":    {"name", "topics", "joinPayload", "heartbeat", "vsn", "events"},
	"graphql-ws": {"name", "query", "variables", "operationName", "initPayload"},
	"mqtt":       mqttKeys,
}

func protocolNames() string {
	names := make([]string, 0, len(protocolKeys))
	for n := range protocolKeys {
		names = append(names, "'"+n+"'")
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// parseProtocol reads protocol: 'NAME' or protocol: {name: 'NAME', ...}.
func parseProtocol(v any) (protocol.Adapter, error) {
	if v == nil {
		return nil, nil
	}
	var m map[string]any
	switch x := v.(type) {
	case string:
		m = map[string]any{"name": x}
	case map[string]any:
		m = x
	default:
		return nil, badOption("protocol", "must be a protocol name (%s) or an object such as {name: 'centrifugo', channels: ['news']}, got %s",
			protocolNames(), describe(v))
	}
	name, err := str("protocol.name", m["name"])
	if err != nil {
		return nil, err
	}
	keys, ok := protocolKeys[name]
	if !ok {
		if name == "" {
			return nil, badOption("protocol.name", "is required: one of %s", protocolNames())
		}
		return nil, badOption("protocol.name", "must be one of %s, got %q", protocolNames(), name)
	}
	if err := checkKeys("protocol.", m, keys); err != nil {
		return nil, err
	}
	var a protocol.Adapter
	switch name {
	case "centrifugo":
		a, err = centrifugoAdapter(m)
	case "socketio":
		a, err = socketIOAdapter(m)
	case "phoenix":
		a, err = phoenixAdapter(m)
	case "graphql-ws":
		a, err = graphQLWSAdapter(m)
	case "mqtt":
		a, err = mqttAdapter(m)
	}
	if err != nil {
		return nil, adapterError(err)
	}
	return a, nil
}

// adapterError turns an adapter's "field: problem" into an option error
// naming protocol.field.
func adapterError(err error) error {
	var oe *optionError
	if errors.As(err, &oe) {
		return err
	}
	field, msg, ok := strings.Cut(err.Error(), ": ")
	if !ok || strings.Contains(field, " ") {
		return badOption("protocol", "%v", err)
	}
	return badOption("protocol."+field, "%s", msg)
}

// jsonValue marshals an option that is passed on to the server as JSON.
func jsonValue(name string, v any, object bool) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	if _, isObj := v.(map[string]any); object && !isObj {
		return nil, badOption(name, "must be an object, got %s", describe(v))
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, badOption(name, "cannot be sent as JSON: %v", err)
	}
	return raw, nil
}

func centrifugoAdapter(m map[string]any) (protocol.Adapter, error) {
	var o protocol.CentrifugoOptions
	var err error
	if o.Token, err = str("protocol.token", m["token"]); err != nil {
		return nil, err
	}
	if o.Data, err = jsonValue("protocol.data", m["data"], false); err != nil {
		return nil, err
	}
	if o.Name, err = str("protocol.client", m["client"]); err != nil {
		return nil, err
	}
	if o.Channels, err = stringList("protocol.channels", m["channels"], true); err != nil {
		return nil, err
	}
	return protocol.NewCentrifugo(o)
}

func socketIOAdapter(m map[string]any) (protocol.Adapter, error) {
	var o protocol.SocketIOOptions
	var err error
	if o.Namespace, err = str("protocol.namespace", m["namespace"]); err != nil {
		return nil, err
	}
	if o.Auth, err = jsonValue("protocol.auth", m["auth"], true); err != nil {
		return nil, err
	}
	if o.Events, err = stringList("protocol.events", m["events"], true); err != nil {
		return nil, err
	}
	return protocol.NewSocketIO(o)
}

func phoenixAdapter(m map[string]any) (protocol.Adapter, error) {
	var o protocol.PhoenixOptions
	var err error
	if o.Topics, err = stringList("protocol.topics", m["topics"], true); err != nil {
		return nil, err
	}
	if o.JoinPayload, err = jsonValue("protocol.joinPayload", m["joinPayload"], true); err != nil {
		return nil, err
	}
	if v, ok := m["heartbeat"]; ok {
		if o.Heartbeat, err = duration("protocol.heartbeat", v); err != nil {
			return nil, err
		}
	}
	if o.Vsn, err = str("protocol.vsn", m["vsn"]); err != nil {
		return nil, err
	}
	if o.Events, err = stringList("protocol.events", m["events"], true); err != nil {
		return nil, err
	}
	return protocol.NewPhoenix(o)
}

func graphQLWSAdapter(m map[string]any) (protocol.Adapter, error) {
	var o protocol.GraphQLWSOptions
	var err error
	if o.Query, err = str("protocol.query", m["query"]); err != nil {
		return nil, err
	}
	if o.Variables, err = jsonValue("protocol.variables", m["variables"], true); err != nil {
		return nil, err
	}
	if o.OperationName, err = str("protocol.operationName", m["operationName"]); err != nil {
		return nil, err
	}
	if o.InitPayload, err = jsonValue("protocol.initPayload", m["initPayload"], true); err != nil {
		return nil, err
	}
	return protocol.NewGraphQLWS(o)
}
