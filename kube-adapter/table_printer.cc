#include "kube-adapter/table_printer.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <set>
#include <string_view>

namespace capstan::kube {
namespace {

using Clock = std::chrono::system_clock;

// metav1.ObjectMeta{}.SwaggerDoc() texts, the descriptions the apiserver
// gives its Name and Age / Created At columns.
const char kNameDoc[] =
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "http://kubernetes.io/docs/user-guide/identifiers#names";
const char kCreationDoc[] =
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and is in "
    "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const char kContainersDoc[] = "Names of each container in the template.";
const char kImagesDoc[] = "Images referenced by each container in the template.";

// ---- Guarded JSON access: every lookup tolerates missing or mistyped fields.

const Json* Get(const Json& j, std::initializer_list<std::string_view> path) {
  const Json* cur = &j;
  for (std::string_view key : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(std::string(key));
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

std::string Str(const Json& j, std::initializer_list<std::string_view> path,
                const std::string& dflt = "") {
  const Json* v = Get(j, path);
  if (v == nullptr || !v->is_string()) return dflt;
  return v->get<std::string>();
}

bool Has(const Json& j, std::initializer_list<std::string_view> path) {
  const Json* v = Get(j, path);
  return v != nullptr && !v->is_null();
}

int64_t AsInt(const Json* v, int64_t dflt) {
  if (v == nullptr) return dflt;
  if (v->is_number_integer()) return v->get<int64_t>();
  if (v->is_number_float()) return static_cast<int64_t>(v->get<double>());
  return dflt;
}

int64_t Int(const Json& j, std::initializer_list<std::string_view> path, int64_t dflt = 0) {
  return AsInt(Get(j, path), dflt);
}

bool Bool(const Json& j, std::initializer_list<std::string_view> path) {
  const Json* v = Get(j, path);
  return v != nullptr && v->is_boolean() && v->get<bool>();
}

// Number of entries of an object or array field (0 when absent).
int64_t Count(const Json& j, std::initializer_list<std::string_view> path) {
  const Json* v = Get(j, path);
  if (v == nullptr || !(v->is_object() || v->is_array())) return 0;
  return static_cast<int64_t>(v->size());
}

const Json& Array(const Json& j, std::initializer_list<std::string_view> path) {
  static const Json kEmpty = Json::array();
  const Json* v = Get(j, path);
  return (v != nullptr && v->is_array()) ? *v : kEmpty;
}

// A resource.Quantity or IntOrString as text. Quantities are shown as
// stored (the apiserver would canonicalize them, e.g. "1000m" -> "1").
std::string ScalarText(const Json* v, const std::string& dflt = "") {
  if (v == nullptr || v->is_null()) return dflt;
  if (v->is_string()) return v->get<std::string>();
  if (v->is_number_integer()) return std::to_string(v->get<int64_t>());
  if (v->is_number() || v->is_boolean()) return v->dump();
  return dflt;
}

std::string Join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

std::string ToLower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// ---- Time.

std::string SinceText(const Json* ts, Clock::time_point now) {
  Clock::time_point t;
  if (ts == nullptr || !ts->is_string() || !ParseRfc3339(ts->get<std::string>(), &t)) {
    return "<unknown>";  // translateTimestampSince of a zero time
  }
  return HumanDuration(std::chrono::duration_cast<std::chrono::seconds>(now - t));
}

std::string Age(const Json& obj, Clock::time_point now) {
  return SinceText(Get(obj, {"metadata", "creationTimestamp"}), now);
}

// ---- Label formatting (labels.FormatLabels, metav1.FormatLabelSelector).

// "k1=v1,k2=v2" sorted by key; "<none>" when empty.
std::string FormatLabels(const Json* m) {
  if (m == nullptr || !m->is_object() || m->empty()) return "<none>";
  std::map<std::string, std::string> sorted;
  for (auto it = m->begin(); it != m->end(); ++it) sorted[it.key()] = ScalarText(&it.value());
  std::vector<std::string> parts;
  for (const auto& [k, v] : sorted) parts.push_back(k + "=" + v);
  return Join(parts, ",");
}

// labels.Selector.String() of metav1.LabelSelectorAsSelector: requirements
// sorted by key. Empty string for an empty or missing selector.
std::string SelectorString(const Json* sel, bool* invalid) {
  *invalid = false;
  if (sel == nullptr || !sel->is_object()) return "";
  std::vector<std::pair<std::string, std::string>> reqs;  // (key, rendered)
  if (const Json* ml = Get(*sel, {"matchLabels"}); ml != nullptr && ml->is_object()) {
    for (auto it = ml->begin(); it != ml->end(); ++it) {
      reqs.emplace_back(it.key(), it.key() + "=" + ScalarText(&it.value()));
    }
  }
  for (const Json& e : Array(*sel, {"matchExpressions"})) {
    std::string key = Str(e, {"key"});
    std::string op = Str(e, {"operator"});
    std::vector<std::string> values;
    for (const Json& v : Array(e, {"values"})) values.push_back(ScalarText(&v));
    std::sort(values.begin(), values.end());
    if (op == "In") {
      reqs.emplace_back(key, key + " in (" + Join(values, ",") + ")");
    } else if (op == "NotIn") {
      reqs.emplace_back(key, key + " notin (" + Join(values, ",") + ")");
    } else if (op == "Exists") {
      reqs.emplace_back(key, key);
    } else if (op == "DoesNotExist") {
      reqs.emplace_back(key, "!" + key);
    } else {
      *invalid = true;
      return "";
    }
  }
  std::stable_sort(reqs.begin(), reqs.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> parts;
  for (const auto& r : reqs) parts.push_back(r.second);
  return Join(parts, ",");
}

std::string FormatLabelSelector(const Json* sel) {
  bool invalid = false;
  std::string s = SelectorString(sel, &invalid);
  if (invalid) return "<error>";
  return s.empty() ? "<none>" : s;
}

// layoutContainerCells: container names and images, comma separated.
void ContainerCells(const Json& pod_spec_containers, Json* cells) {
  std::vector<std::string> names, images;
  if (pod_spec_containers.is_array()) {
    for (const Json& c : pod_spec_containers) {
      names.push_back(Str(c, {"name"}));
      images.push_back(Str(c, {"image"}));
    }
  }
  cells->push_back(Join(names, ","));
  cells->push_back(Join(images, ","));
}

const Json& TemplateContainers(const Json& obj) {
  return Array(obj, {"spec", "template", "spec", "containers"});
}

// ---- Column tables.

struct Column {
  const char* name;
  const char* type;
  const char* format;
  const char* description;
  int priority;
};

Column NameCol() { return {"Name", "string", "name", kNameDoc, 0}; }
Column AgeCol() { return {"Age", "string", "", kCreationDoc, 0}; }
Column Str0(const char* name, const char* desc) { return {name, "string", "", desc, 0}; }
Column Str1(const char* name, const char* desc) { return {name, "string", "", desc, 1}; }
Column Int0(const char* name, const char* desc) { return {name, "integer", "", desc, 0}; }

// A printer: its columns and a function computing one row's cells.
struct Printer {
  std::vector<const char*> groups;  // API groups that serve the kind
  std::vector<Column> columns;
  Json (*cells)(const Json& obj, Clock::time_point now, Json* row);
};

// ---- Per-kind cells (printers.go, with options.Wide as the apiserver sets it).

Json PodCells(const Json& pod, Clock::time_point now, Json* row) {
  int64_t restarts = 0;
  int64_t total = Count(pod, {"spec", "containers"});
  int64_t ready = 0;
  std::string phase = Str(pod, {"status", "phase"});
  std::string reason = phase;
  if (!Str(pod, {"status", "reason"}).empty()) reason = Str(pod, {"status", "reason"});

  // Finished pods are flagged so clients can tell them apart.
  if (phase == "Succeeded" || phase == "Failed") {
    (*row)["conditions"] =
        Json::array({{{"type", "Completed"},
                      {"status", "True"},
                      {"reason", phase},
                      {"message", phase == "Succeeded" ? "The pod has completed successfully."
                                                       : "The pod failed."}}});
  }

  bool initializing = false;
  const Json& init_statuses = Array(pod, {"status", "initContainerStatuses"});
  int64_t init_count = Count(pod, {"spec", "initContainers"});
  for (size_t i = 0; i < init_statuses.size(); ++i) {
    const Json& c = init_statuses[i];
    restarts += Int(c, {"restartCount"});
    const Json* term = Get(c, {"state", "terminated"});
    bool terminated = term != nullptr && term->is_object();
    std::string waiting_reason = Str(c, {"state", "waiting", "reason"});
    bool waiting = Has(c, {"state", "waiting"});
    if (terminated && Int(*term, {"exitCode"}) == 0) continue;
    if (terminated) {
      std::string r = Str(*term, {"reason"});
      if (r.empty()) {
        if (Int(*term, {"signal"}) != 0) {
          reason = "Init:Signal:" + std::to_string(Int(*term, {"signal"}));
        } else {
          reason = "Init:ExitCode:" + std::to_string(Int(*term, {"exitCode"}));
        }
      } else {
        reason = "Init:" + r;
      }
    } else if (waiting && !waiting_reason.empty() && waiting_reason != "PodInitializing") {
      reason = "Init:" + waiting_reason;
    } else {
      reason = "Init:" + std::to_string(i) + "/" + std::to_string(init_count);
    }
    initializing = true;
    break;
  }
  if (!initializing) {
    restarts = 0;
    bool has_running = false;
    const Json& statuses = Array(pod, {"status", "containerStatuses"});
    for (size_t n = statuses.size(); n > 0; --n) {
      const Json& c = statuses[n - 1];
      restarts += Int(c, {"restartCount"});
      const Json* term = Get(c, {"state", "terminated"});
      bool terminated = term != nullptr && term->is_object();
      std::string waiting_reason = Str(c, {"state", "waiting", "reason"});
      if (Has(c, {"state", "waiting"}) && !waiting_reason.empty()) {
        reason = waiting_reason;
      } else if (terminated && !Str(*term, {"reason"}).empty()) {
        reason = Str(*term, {"reason"});
      } else if (terminated) {
        if (Int(*term, {"signal"}) != 0) {
          reason = "Signal:" + std::to_string(Int(*term, {"signal"}));
        } else {
          reason = "ExitCode:" + std::to_string(Int(*term, {"exitCode"}));
        }
      } else if (Bool(c, {"ready"}) && Has(c, {"state", "running"})) {
        has_running = true;
        ++ready;
      }
    }
    // A pod with a container still running is not "Completed".
    if (reason == "Completed" && has_running) {
      bool pod_ready = false;
      for (const Json& cond : Array(pod, {"status", "conditions"})) {
        if (Str(cond, {"type"}) == "Ready" && Str(cond, {"status"}) == "True") pod_ready = true;
      }
      reason = pod_ready ? "Running" : "NotReady";
    }
  }
  if (Has(pod, {"metadata", "deletionTimestamp"})) {
    reason = Str(pod, {"status", "reason"}) == "NodeLost" ? "Unknown" : "Terminating";
  }

  std::string ip;
  const Json& ips = Array(pod, {"status", "podIPs"});
  if (!ips.empty()) ip = Str(ips[0], {"ip"});
  if (ip.empty()) ip = Str(pod, {"status", "podIP"});
  if (ip.empty()) ip = "<none>";
  std::string node = Str(pod, {"spec", "nodeName"}, "");
  if (node.empty()) node = "<none>";
  std::string nominated = Str(pod, {"status", "nominatedNodeName"});
  if (nominated.empty()) nominated = "<none>";
  std::string gates = "<none>";
  const Json& rg = Array(pod, {"spec", "readinessGates"});
  if (!rg.empty()) {
    int true_conditions = 0;
    for (const Json& gate : rg) {
      for (const Json& cond : Array(pod, {"status", "conditions"})) {
        if (Str(cond, {"type"}) == Str(gate, {"conditionType"})) {
          if (Str(cond, {"status"}) == "True") ++true_conditions;
          break;
        }
      }
    }
    gates = std::to_string(true_conditions) + "/" + std::to_string(rg.size());
  }
  return Json::array({Str(pod, {"metadata", "name"}),
                      std::to_string(ready) + "/" + std::to_string(total), reason, restarts,
                      Age(pod, now), ip, node, nominated, gates});
}

Json PodTemplateCells(const Json& obj, Clock::time_point, Json*) {
  Json cells = Json::array({Str(obj, {"metadata", "name"})});
  ContainerCells(Array(obj, {"template", "spec", "containers"}), &cells);
  cells.push_back(FormatLabels(Get(obj, {"template", "metadata", "labels"})));
  return cells;
}

Json PdbCells(const Json& obj, Clock::time_point now, Json*) {
  return Json::array({Str(obj, {"metadata", "name"}),
                      ScalarText(Get(obj, {"spec", "minAvailable"}), "N/A"),
                      ScalarText(Get(obj, {"spec", "maxUnavailable"}), "N/A"),
                      Int(obj, {"status", "disruptionsAllowed"}), Age(obj, now)});
}

Json ReplicationControllerCells(const Json& obj, Clock::time_point now, Json*) {
  Json cells = Json::array({Str(obj, {"metadata", "name"}), Int(obj, {"spec", "replicas"}, 1),
                            Int(obj, {"status", "replicas"}), Int(obj, {"status", "readyReplicas"}),
                            Age(obj, now)});
  ContainerCells(TemplateContainers(obj), &cells);
  cells.push_back(FormatLabels(Get(obj, {"spec", "selector"})));
  return cells;
}

Json ReplicaSetCells(const Json& obj, Clock::time_point now, Json*) {
  Json cells = Json::array({Str(obj, {"metadata", "name"}), Int(obj, {"spec", "replicas"}, 1),
                            Int(obj, {"status", "replicas"}), Int(obj, {"status", "readyReplicas"}),
                            Age(obj, now)});
  ContainerCells(TemplateContainers(obj), &cells);
  cells.push_back(FormatLabelSelector(Get(obj, {"spec", "selector"})));
  return cells;
}

Json DaemonSetCells(const Json& obj, Clock::time_point now, Json*) {
  Json cells = Json::array(
      {Str(obj, {"metadata", "name"}), Int(obj, {"status", "desiredNumberScheduled"}),
       Int(obj, {"status", "currentNumberScheduled"}), Int(obj, {"status", "numberReady"}),
       Int(obj, {"status", "updatedNumberScheduled"}), Int(obj, {"status", "numberAvailable"}),
       FormatLabels(Get(obj, {"spec", "template", "spec", "nodeSelector"})), Age(obj, now)});
  ContainerCells(TemplateContainers(obj), &cells);
  cells.push_back(FormatLabelSelector(Get(obj, {"spec", "selector"})));
  return cells;
}

Json StatefulSetCells(const Json& obj, Clock::time_point now, Json*) {
  Json cells = Json::array({Str(obj, {"metadata", "name"}),
                            std::to_string(Int(obj, {"status", "readyReplicas"})) + "/" +
                                std::to_string(Int(obj, {"spec", "replicas"}, 1)),
                            Age(obj, now)});
  ContainerCells(TemplateContainers(obj), &cells);
  return cells;
}

Json DeploymentCells(const Json& obj, Clock::time_point now, Json*) {
  bool invalid = false;
  std::string selector = SelectorString(Get(obj, {"spec", "selector"}), &invalid);
  if (invalid) selector = "<invalid>";
  Json cells = Json::array({Str(obj, {"metadata", "name"}),
                            std::to_string(Int(obj, {"status", "readyReplicas"})) + "/" +
                                std::to_string(Int(obj, {"spec", "replicas"}, 1)),
                            Int(obj, {"status", "updatedReplicas"}),
                            Int(obj, {"status", "availableReplicas"}), Age(obj, now)});
  ContainerCells(TemplateContainers(obj), &cells);
  cells.push_back(selector);
  return cells;
}

Json JobCells(const Json& obj, Clock::time_point now, Json*) {
  int64_t succeeded = Int(obj, {"status", "succeeded"});
  std::string completions;
  if (Has(obj, {"spec", "completions"})) {
    completions =
        std::to_string(succeeded) + "/" + std::to_string(Int(obj, {"spec", "completions"}));
  } else {
    int64_t parallelism = Int(obj, {"spec", "parallelism"});
    completions = std::to_string(succeeded) + "/1";
    if (parallelism > 1) completions += " of " + std::to_string(parallelism);
  }
  std::string duration;
  Clock::time_point start, end;
  if (ParseRfc3339(Str(obj, {"status", "startTime"}), &start)) {
    if (!ParseRfc3339(Str(obj, {"status", "completionTime"}), &end)) end = now;
    duration = HumanDuration(std::chrono::duration_cast<std::chrono::seconds>(end - start));
  }
  Json cells = Json::array({Str(obj, {"metadata", "name"}), completions, duration, Age(obj, now)});
  ContainerCells(TemplateContainers(obj), &cells);
  cells.push_back(FormatLabelSelector(Get(obj, {"spec", "selector"})));
  return cells;
}

Json CronJobCells(const Json& obj, Clock::time_point now, Json*) {
  std::string suspend = "<unset>";
  if (const Json* s = Get(obj, {"spec", "suspend"}); s != nullptr && s->is_boolean()) {
    suspend = s->get<bool>() ? "True" : "False";
  }
  std::string last = "<none>";
  if (Has(obj, {"status", "lastScheduleTime"})) {
    last = SinceText(Get(obj, {"status", "lastScheduleTime"}), now);
  }
  Json cells = Json::array({Str(obj, {"metadata", "name"}), Str(obj, {"spec", "schedule"}), suspend,
                            Count(obj, {"status", "active"}), last, Age(obj, now)});
  ContainerCells(Array(obj, {"spec", "jobTemplate", "spec", "template", "spec", "containers"}),
                 &cells);
  cells.push_back(FormatLabelSelector(Get(obj, {"spec", "jobTemplate", "spec", "selector"})));
  return cells;
}

// Load-balancer ingress points: unique, sorted, comma separated.
std::string LoadBalancerText(const Json& obj) {
  std::set<std::string> points;
  for (const Json& in : Array(obj, {"status", "loadBalancer", "ingress"})) {
    if (!Str(in, {"ip"}).empty()) {
      points.insert(Str(in, {"ip"}));
    } else if (!Str(in, {"hostname"}).empty()) {
      points.insert(Str(in, {"hostname"}));
    }
  }
  return Join(std::vector<std::string>(points.begin(), points.end()), ",");
}

Json ServiceCells(const Json& svc, Clock::time_point now, Json*) {
  std::string type = Str(svc, {"spec", "type"});
  std::string cluster_ip;
  const Json& ips = Array(svc, {"spec", "clusterIPs"});
  if (!ips.empty() && ips[0].is_string()) cluster_ip = ips[0].get<std::string>();
  if (cluster_ip.empty()) cluster_ip = Str(svc, {"spec", "clusterIP"});
  if (cluster_ip.empty()) cluster_ip = "<none>";

  std::vector<std::string> external;
  for (const Json& ip : Array(svc, {"spec", "externalIPs"})) external.push_back(ScalarText(&ip));
  std::string external_ip = "<unknown>";
  if (type == "ClusterIP" || type == "NodePort") {
    external_ip = external.empty() ? "<none>" : Join(external, ",");
  } else if (type == "LoadBalancer") {
    std::string lb = LoadBalancerText(svc);
    if (!external.empty()) {
      external_ip = lb.empty() ? Join(external, ",") : lb + "," + Join(external, ",");
    } else {
      external_ip = lb.empty() ? "<pending>" : lb;
    }
  } else if (type == "ExternalName") {
    external_ip = Str(svc, {"spec", "externalName"});
  }

  std::vector<std::string> ports;
  for (const Json& p : Array(svc, {"spec", "ports"})) {
    std::string proto = Str(p, {"protocol"}, "TCP");  // the apiserver defaults TCP
    int64_t node_port = Int(p, {"nodePort"});
    std::string s = std::to_string(Int(p, {"port"}));
    if (node_port > 0) s += ":" + std::to_string(node_port);
    ports.push_back(s + "/" + proto);
  }
  std::string port_text = ports.empty() ? "<none>" : Join(ports, ",");
  return Json::array({Str(svc, {"metadata", "name"}), type, cluster_ip, external_ip, port_text,
                      Age(svc, now), FormatLabels(Get(svc, {"spec", "selector"}))});
}

Json IngressCells(const Json& obj, Clock::time_point now, Json*) {
  std::string class_name = Str(obj, {"spec", "ingressClassName"}, "<none>");
  const Json& rules = Array(obj, {"spec", "rules"});
  std::vector<std::string> hosts;
  bool more = false;
  for (const Json& rule : rules) {
    if (hosts.size() == 3) more = true;
    if (!more && !Str(rule, {"host"}).empty()) hosts.push_back(Str(rule, {"host"}));
  }
  std::string host_text = hosts.empty() ? "*" : Join(hosts, ",");
  if (!hosts.empty() && more) {
    host_text += " + " + std::to_string(rules.size() - 3) + " more...";
  }
  std::string ports = Count(obj, {"spec", "tls"}) > 0 ? "80, 443" : "80";
  return Json::array({Str(obj, {"metadata", "name"}), class_name, host_text, LoadBalancerText(obj),
                      ports, Age(obj, now)});
}

// formatEndpoints: up to three "ip:port" entries, then "+ N more...".
std::string FormatEndpoints(const Json& obj) {
  const Json& subsets = Array(obj, {"subsets"});
  if (subsets.empty()) return "<none>";
  std::vector<std::string> list;
  const size_t max = 3;
  bool more = false;
  int count = 0;
  for (const Json& ss : subsets) {
    const Json& addresses = Array(ss, {"addresses"});
    const Json& ports = Array(ss, {"ports"});
    if (ports.empty()) {
      for (const Json& a : addresses) {
        if (list.size() == max) more = true;
        if (!more) list.push_back(Str(a, {"ip"}));
        ++count;
      }
      continue;
    }
    for (const Json& port : ports) {
      for (const Json& a : addresses) {
        if (list.size() == max) more = true;
        if (!more) {
          std::string ip = Str(a, {"ip"});
          if (ip.find(':') != std::string::npos) ip = "[" + ip + "]";  // net.JoinHostPort
          list.push_back(ip + ":" + std::to_string(Int(port, {"port"})));
        }
        ++count;
      }
    }
  }
  std::string out = Join(list, ",");
  if (more) out += " + " + std::to_string(count - static_cast<int>(max)) + " more...";
  return out;
}

Json EndpointsCells(const Json& obj, Clock::time_point now, Json*) {
  return Json::array({Str(obj, {"metadata", "name"}), FormatEndpoints(obj), Age(obj, now)});
}

std::string NodeAddress(const Json& node, const std::string& type) {
  for (const Json& a : Array(node, {"status", "addresses"})) {
    if (Str(a, {"type"}) == type) return Str(a, {"address"});
  }
  return "<none>";
}

Json NodeCells(const Json& node, Clock::time_point now, Json*) {
  std::vector<std::string> status;
  for (const Json& cond : Array(node, {"status", "conditions"})) {
    if (Str(cond, {"type"}) != "Ready") continue;
    status = {Str(cond, {"status"}) == "True" ? "Ready" : "NotReady"};
  }
  if (status.empty()) status.push_back("Unknown");
  if (Bool(node, {"spec", "unschedulable"})) status.push_back("SchedulingDisabled");

  std::set<std::string> roles;
  if (const Json* labels = Get(node, {"metadata", "labels"}); labels && labels->is_object()) {
    const std::string prefix = "node-role.kubernetes.io/";
    for (auto it = labels->begin(); it != labels->end(); ++it) {
      if (it.key().rfind(prefix, 0) == 0 && it.key().size() > prefix.size()) {
        roles.insert(it.key().substr(prefix.size()));
      } else if (it.key() == "kubernetes.io/role" && !ScalarText(&it.value()).empty()) {
        roles.insert(ScalarText(&it.value()));
      }
    }
  }
  std::string role_text = Join(std::vector<std::string>(roles.begin(), roles.end()), ",");
  if (role_text.empty()) role_text = "<none>";
  auto info = [&](const char* field) {
    std::string v = Str(node, {"status", "nodeInfo", field});
    return v.empty() ? std::string("<unknown>") : v;
  };
  return Json::array({Str(node, {"metadata", "name"}), Join(status, ","), role_text, Age(node, now),
                      Str(node, {"status", "nodeInfo", "kubeletVersion"}),
                      NodeAddress(node, "InternalIP"), NodeAddress(node, "ExternalIP"),
                      info("osImage"), info("kernelVersion"), info("containerRuntimeVersion")});
}

// core/v1 and events.k8s.io Events print alike; the latter's fields are
// renamed (regarding, note, deprecated*), so read whichever is present.
Json EventCells(const Json& ev, Clock::time_point now, Json*) {
  auto field = [&](const char* core, const char* events) -> const Json* {
    const Json* v = Get(ev, {core});
    return (v != nullptr && !v->is_null()) ? v : Get(ev, {events});
  };
  auto is_set = [](const Json* v) { return v != nullptr && v->is_string() && !v->empty(); };
  const Json* first_ts = field("firstTimestamp", "deprecatedFirstTimestamp");
  std::string first =
      is_set(first_ts) ? SinceText(first_ts, now) : SinceText(Get(ev, {"eventTime"}), now);
  const Json* last_ts = field("lastTimestamp", "deprecatedLastTimestamp");
  std::string last = is_set(last_ts) ? SinceText(last_ts, now) : first;
  int64_t count = AsInt(field("count", "deprecatedCount"), 0);
  if (Has(ev, {"series"})) {
    last = SinceText(Get(ev, {"series", "lastObservedTime"}), now);
    count = Int(ev, {"series", "count"});
  } else if (count == 0) {
    count = 1;  // singleton events of the new API carry no count
  }
  const Json* involved = field("involvedObject", "regarding");
  std::string kind = involved ? ToLower(Str(*involved, {"kind"})) : "";
  std::string name = involved ? Str(*involved, {"name"}) : "";
  std::string target = name.empty() ? kind : kind + "/" + name;
  std::string subobject = involved ? Str(*involved, {"fieldPath"}) : "";

  const Json* source = field("source", "deprecatedSource");
  std::string component = source ? Str(*source, {"component"}) : "";
  std::string host = source ? Str(*source, {"host"}) : "";
  if (component.empty()) component = Str(ev, {"reportingController"});
  if (host.empty()) host = Str(ev, {"reportingInstance"});
  std::string source_text = host.empty() ? component : component + ", " + host;

  const Json* msg = field("message", "note");
  std::string message = ScalarText(msg);
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  message.erase(message.begin(), std::find_if(message.begin(), message.end(), not_space));
  message.erase(std::find_if(message.rbegin(), message.rend(), not_space).base(), message.end());

  return Json::array({last, Str(ev, {"type"}), Str(ev, {"reason"}), target, subobject, source_text,
                      message, first, count, Str(ev, {"metadata", "name"})});
}

Json NamespaceCells(const Json& obj, Clock::time_point now, Json*) {
  return Json::array(
      {Str(obj, {"metadata", "name"}), Str(obj, {"status", "phase"}), Age(obj, now)});
}

Json SecretCells(const Json& obj, Clock::time_point now, Json*) {
  return Json::array(
      {Str(obj, {"metadata", "name"}), Str(obj, {"type"}), Count(obj, {"data"}), Age(obj, now)});
}

Json ServiceAccountCells(const Json& obj, Clock::time_point now, Json*) {
  return Json::array({Str(obj, {"metadata", "name"}), Count(obj, {"secrets"}), Age(obj, now)});
}

// GetAccessModesAsString: RWO, ROX, RWX in that order, no duplicates.
std::string AccessModes(const Json& modes) {
  std::vector<std::string> out;
  auto has = [&](const char* m) {
    if (!modes.is_array()) return false;
    for (const Json& v : modes) {
      if (v.is_string() && v.get<std::string>() == m) return true;
    }
    return false;
  };
  if (has("ReadWriteOnce")) out.push_back("RWO");
  if (has("ReadOnlyMany")) out.push_back("ROX");
  if (has("ReadWriteMany")) out.push_back("RWX");
  return Join(out, ",");
}

// The beta annotation wins over spec.storageClassName, as in the helpers.
std::string StorageClassOf(const Json& obj) {
  const Json* ann =
      Get(obj, {"metadata", "annotations", "volume.beta.kubernetes.io/storage-class"});
  if (ann != nullptr && ann->is_string()) return ann->get<std::string>();
  return Str(obj, {"spec", "storageClassName"});
}

Json PersistentVolumeCells(const Json& pv, Clock::time_point now, Json*) {
  std::string claim;
  if (Has(pv, {"spec", "claimRef"})) {
    claim =
        Str(pv, {"spec", "claimRef", "namespace"}) + "/" + Str(pv, {"spec", "claimRef", "name"});
  }
  std::string phase = Str(pv, {"status", "phase"});
  if (Has(pv, {"metadata", "deletionTimestamp"})) phase = "Terminating";
  return Json::array(
      {Str(pv, {"metadata", "name"}), ScalarText(Get(pv, {"spec", "capacity", "storage"}), "0"),
       AccessModes(Array(pv, {"spec", "accessModes"})),
       Str(pv, {"spec", "persistentVolumeReclaimPolicy"}), phase, claim, StorageClassOf(pv),
       Str(pv, {"status", "reason"}), Age(pv, now), Str(pv, {"spec", "volumeMode"}, "<unset>")});
}

Json PersistentVolumeClaimCells(const Json& pvc, Clock::time_point now, Json*) {
  std::string phase = Str(pvc, {"status", "phase"});
  if (Has(pvc, {"metadata", "deletionTimestamp"})) phase = "Terminating";
  std::string volume = Str(pvc, {"spec", "volumeName"});
  std::string capacity, modes;
  if (!volume.empty()) {
    modes = AccessModes(Array(pvc, {"status", "accessModes"}));
    capacity = ScalarText(Get(pvc, {"status", "capacity", "storage"}), "0");
  }
  return Json::array({Str(pvc, {"metadata", "name"}), phase, volume, capacity, modes,
                      StorageClassOf(pvc), Age(pvc, now),
                      Str(pvc, {"spec", "volumeMode"}, "<unset>")});
}

Json ConfigMapCells(const Json& obj, Clock::time_point now, Json*) {
  return Json::array({Str(obj, {"metadata", "name"}),
                      Count(obj, {"data"}) + Count(obj, {"binaryData"}), Age(obj, now)});
}

Json NetworkPolicyCells(const Json& obj, Clock::time_point now, Json*) {
  return Json::array({Str(obj, {"metadata", "name"}),
                      FormatLabelSelector(Get(obj, {"spec", "podSelector"})), Age(obj, now)});
}

Json RoleBindingCells(const Json& obj, Clock::time_point now, Json*) {
  std::vector<std::string> users, groups, sas;
  for (const Json& s : Array(obj, {"subjects"})) {
    std::string kind = Str(s, {"kind"});
    if (kind == "ServiceAccount") {
      sas.push_back(Str(s, {"namespace"}) + "/" + Str(s, {"name"}));
    } else if (kind == "User") {
      users.push_back(Str(s, {"name"}));
    } else if (kind == "Group") {
      groups.push_back(Str(s, {"name"}));
    }
  }
  return Json::array({Str(obj, {"metadata", "name"}),
                      Str(obj, {"roleRef", "kind"}) + "/" + Str(obj, {"roleRef", "name"}),
                      Age(obj, now), Join(users, ", "), Join(groups, ", "), Join(sas, ", ")});
}

Json HpaCells(const Json& obj, Clock::time_point now, Json*) {
  std::vector<std::string> list;
  const Json& metrics = Array(obj, {"spec", "metrics"});
  const Json& statuses = Array(obj, {"status", "currentMetrics"});
  if (Has(obj, {"spec", "targetCPUUtilizationPercentage"})) {  // autoscaling/v1
    std::string current = "<unknown>";
    if (Has(obj, {"status", "currentCPUUtilizationPercentage"})) {
      current = std::to_string(Int(obj, {"status", "currentCPUUtilizationPercentage"})) + "%";
    }
    list.push_back(current + "/" +
                   std::to_string(Int(obj, {"spec", "targetCPUUtilizationPercentage"})) + "%");
  }
  for (size_t i = 0; i < metrics.size(); ++i) {
    const Json& m = metrics[i];
    const Json* st = i < statuses.size() ? &statuses[i] : nullptr;
    std::string type = Str(m, {"type"});
    // autoscaling/v2beta2 field names: <source>.target / <source>.current.
    std::string src = type;  // "Resource" -> "resource"
    if (!src.empty()) src[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(src[0])));
    if (type == "Resource" || type == "ContainerResource") {
      const Json* target = Get(m, {src, "target"});
      if (target != nullptr && Has(*target, {"averageValue"})) {
        std::string current = "<unknown>";
        if (st && Has(*st, {src, "current", "averageValue"})) {
          current = ScalarText(Get(*st, {src, "current", "averageValue"}));
        }
        list.push_back(current + "/" + ScalarText(Get(*target, {"averageValue"})));
      } else {
        std::string current = "<unknown>";
        if (st && Has(*st, {src, "current", "averageUtilization"})) {
          current = std::to_string(Int(*st, {src, "current", "averageUtilization"})) + "%";
        }
        std::string tgt = "<auto>";
        if (target != nullptr && Has(*target, {"averageUtilization"})) {
          tgt = std::to_string(Int(*target, {"averageUtilization"})) + "%";
        }
        list.push_back(current + "/" + tgt);
      }
    } else if (type == "Pods" || type == "Object" || type == "External") {
      const char* key =
          (type == "Pods" || Has(m, {src, "target", "averageValue"})) ? "averageValue" : "value";
      std::string current = "<unknown>";
      if (st && Has(*st, {src, "current", key})) {
        current = ScalarText(Get(*st, {src, "current", key}));
      }
      std::string item = current + "/" + ScalarText(Get(m, {src, "target", key}));
      if (type != "Pods" && std::string(key) == "averageValue") item += " (avg)";
      list.push_back(item);
    } else {
      list.push_back("<unknown type>");
    }
  }
  std::string targets;
  if (list.empty()) {
    targets = "<none>";
  } else if (list.size() > 2) {
    size_t extra = list.size() - 2;
    list.resize(2);
    targets = Join(list, ", ") + " + " + std::to_string(extra) + " more...";
  } else {
    targets = Join(list, ", ");
  }
  std::string min_pods = "<unset>";
  if (Has(obj, {"spec", "minReplicas"})) {
    min_pods = std::to_string(Int(obj, {"spec", "minReplicas"}));
  }
  return Json::array({Str(obj, {"metadata", "name"}),
                      Str(obj, {"spec", "scaleTargetRef", "kind"}) + "/" +
                          Str(obj, {"spec", "scaleTargetRef", "name"}),
                      targets, min_pods, Int(obj, {"spec", "maxReplicas"}),
                      Int(obj, {"status", "currentReplicas"}), Age(obj, now)});
}

Json StorageClassCells(const Json& obj, Clock::time_point now, Json*) {
  std::string name = Str(obj, {"metadata", "name"});
  const Json* ann = Get(obj, {"metadata", "annotations"});
  if (ann != nullptr &&
      (Str(*ann, {"storageclass.kubernetes.io/is-default-class"}) == "true" ||
       Str(*ann, {"storageclass.beta.kubernetes.io/is-default-class"}) == "true")) {
    name += " (default)";
  }
  return Json::array({name, Str(obj, {"provisioner"}), Str(obj, {"reclaimPolicy"}, "Delete"),
                      Str(obj, {"volumeBindingMode"}, "Immediate"),
                      Bool(obj, {"allowVolumeExpansion"}), Age(obj, now)});
}

Json LeaseCells(const Json& obj, Clock::time_point now, Json*) {
  return Json::array(
      {Str(obj, {"metadata", "name"}), Str(obj, {"spec", "holderIdentity"}), Age(obj, now)});
}

Json ResourceQuotaCells(const Json& obj, Clock::time_point now, Json*) {
  std::vector<std::string> requests, limits;
  const Json* hard = Get(obj, {"status", "hard"});
  if (hard != nullptr && hard->is_object()) {
    std::map<std::string, const Json*> sorted;
    for (auto it = hard->begin(); it != hard->end(); ++it) sorted[it.key()] = &it.value();
    for (const auto& [resource, hard_value] : sorted) {
      std::string used = ScalarText(Get(obj, {"status", "used", resource}), "0");
      std::string text = resource + ": " + used + "/" + ScalarText(hard_value, "0");
      // "limits.*" resources go to the LIMIT column, everything else to REQUEST.
      bool is_limit = resource.rfind("limits.", 0) == 0;
      (is_limit ? limits : requests).push_back(text);
    }
  }
  return Json::array(
      {Str(obj, {"metadata", "name"}), Age(obj, now), Join(requests, ", "), Join(limits, ", ")});
}

Json PriorityClassCells(const Json& obj, Clock::time_point now, Json*) {
  return Json::array({Str(obj, {"metadata", "name"}), Int(obj, {"value"}),
                      Bool(obj, {"globalDefault"}), Age(obj, now)});
}

// The apiserver's default table convertor (roles, limitranges, CRDs, ...).
Json DefaultCells(const Json& obj, Clock::time_point, Json*) {
  std::string created = "0001-01-01T00:00:00Z";  // Go's zero time, RFC3339
  Clock::time_point t;
  if (ParseRfc3339(Str(obj, {"metadata", "creationTimestamp"}), &t)) {
    auto secs = std::chrono::floor<std::chrono::seconds>(t);
    auto days = std::chrono::floor<std::chrono::days>(secs);
    std::chrono::year_month_day ymd{days};
    std::chrono::hh_mm_ss<std::chrono::seconds> hms{secs - days};
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02dZ", int(ymd.year()),
                  unsigned(ymd.month()), unsigned(ymd.day()), int(hms.hours().count()),
                  int(hms.minutes().count()), int(hms.seconds().count()));
    created = buf;
  }
  return Json::array({Str(obj, {"metadata", "name"}), created});
}

const std::vector<Column>& DefaultColumns() {
  static const std::vector<Column> cols = {NameCol(), {"Created At", "date", "", kCreationDoc, 0}};
  return cols;
}

const std::map<std::string, Printer>& Printers() {
  static const std::map<std::string, Printer> printers = [] {
    std::map<std::string, Printer> m;
    const char* core = "";
    m["Pod"] = {
        {core},
        {NameCol(),
         Str0("Ready", "The aggregate readiness state of this pod for accepting traffic."),
         Str0("Status", "The aggregate status of the containers in this pod."),
         Int0("Restarts", "The number of times the containers in this pod have been restarted."),
         AgeCol(), Str1("IP", "IP address allocated to the pod."),
         Str1("Node", "The node the pod is scheduled onto."),
         Str1("Nominated Node", "The node the scheduler nominated for the pod."),
         Str1("Readiness Gates", "The pod's readiness gates that are satisfied.")},
        PodCells};
    m["PodTemplate"] = {{core},
                        {NameCol(), Str0("Containers", kContainersDoc), Str0("Images", kImagesDoc),
                         Str0("Pod Labels", "The labels for the pod template.")},
                        PodTemplateCells};
    m["PodDisruptionBudget"] = {
        {"policy"},
        {NameCol(), Str0("Min Available", "The minimum number of pods that must be available."),
         Str0("Max Unavailable", "The maximum number of pods that may be unavailable."),
         Int0("Allowed Disruptions",
              "Calculated number of pods that may be disrupted at this time."),
         AgeCol()},
        PdbCells};
    m["ReplicationController"] = {
        {core},
        {NameCol(), Int0("Desired", "The desired number of replicas."),
         Int0("Current", "The most recently observed number of replicas."),
         Int0("Ready", "The number of ready replicas."), AgeCol(),
         Str1("Containers", kContainersDoc), Str1("Images", kImagesDoc),
         Str1("Selector", "The label selector of the pods the controller manages.")},
        ReplicationControllerCells};
    m["ReplicaSet"] = {
        {"apps", "extensions"},
        {NameCol(), Int0("Desired", "The desired number of replicas."),
         Int0("Current", "The most recently observed number of replicas."),
         Int0("Ready", "The number of ready replicas."), AgeCol(),
         Str1("Containers", kContainersDoc), Str1("Images", kImagesDoc),
         Str1("Selector", "The label selector of the pods the replica set manages.")},
        ReplicaSetCells};
    m["DaemonSet"] = {
        {"apps", "extensions"},
        {NameCol(), Int0("Desired", "The number of nodes that should run the daemon pod."),
         Int0("Current", "The number of nodes running at least one daemon pod."),
         Int0("Ready", "The number of nodes with a ready daemon pod."),
         Int0("Up-to-date", "The number of nodes running the updated daemon pod."),
         Int0("Available", "The number of nodes with an available daemon pod."),
         Str0("Node Selector", "The node selector of the pod template."), AgeCol(),
         Str1("Containers", kContainersDoc), Str1("Images", kImagesDoc),
         Str1("Selector", "The label selector of the daemon pods.")},
        DaemonSetCells};
    m["Job"] = {
        {"batch"},
        {NameCol(), Str0("Completions", "The number of pods which reached phase Succeeded."),
         Str0("Duration", "Time required to complete the job."), AgeCol(),
         Str1("Containers", kContainersDoc), Str1("Images", kImagesDoc),
         Str1("Selector", "The label selector of the job's pods.")},
        JobCells};
    m["CronJob"] = {{"batch"},
                    {NameCol(),
                     Str0("Schedule", "The schedule in Cron format."),
                     {"Suspend", "boolean", "", "Whether subsequent executions are suspended.", 0},
                     Int0("Active", "The currently running jobs."),
                     Str0("Last Schedule", "When the job was last successfully scheduled."),
                     AgeCol(),
                     Str1("Containers", kContainersDoc),
                     Str1("Images", kImagesDoc),
                     Str1("Selector", "The label selector of the jobs' pods.")},
                    CronJobCells};
    m["Service"] = {{core},
                    {NameCol(), Str0("Type", "How the service is exposed."),
                     Str0("Cluster-IP", "The IP address of the service."),
                     Str0("External-IP", "External IPs for which nodes accept traffic."),
                     Str0("Port(s)", "The ports exposed by the service."), AgeCol(),
                     Str1("Selector", "The labels of the pods traffic is routed to.")},
                    ServiceCells};
    m["Ingress"] = {
        {"networking.k8s.io", "extensions"},
        {NameCol(),
         Str0("Class",
              "The name of the IngressClass resource that should be used for additional "
              "configuration"),
         Str0("Hosts", "Hosts that incoming requests are matched against before the ingress rule"),
         Str0("Address", "Address is a list containing ingress points for the load-balancer"),
         Str0("Ports", "Ports of TLS configurations that open"), AgeCol()},
        IngressCells};
    m["StatefulSet"] = {{"apps"},
                        {NameCol(), Str0("Ready", "Number of the pod with ready state"), AgeCol(),
                         Str1("Containers", kContainersDoc), Str1("Images", kImagesDoc)},
                        StatefulSetCells};
    m["Endpoints"] = {
        {core},
        {NameCol(), Str0("Endpoints", "The set of all endpoints of the service."), AgeCol()},
        EndpointsCells};
    m["Node"] = {{core},
                 {NameCol(), Str0("Status", "The status of the node"),
                  Str0("Roles", "The roles of the node"), AgeCol(),
                  Str0("Version", "Kubelet Version reported by the node."),
                  Str1("Internal-IP", "The node's internal IP address."),
                  Str1("External-IP", "The node's external IP address."),
                  Str1("OS-Image", "OS Image reported by the node."),
                  Str1("Kernel-Version", "Kernel Version reported by the node."),
                  Str1("Container-Runtime", "Container runtime version reported by the node.")},
                 NodeCells};
    m["Event"] = {
        {core, "events.k8s.io"},
        {Str0("Last Seen", "The time at which the most recent occurrence was recorded."),
         Str0("Type", "Type of this event (Normal, Warning)."),
         Str0("Reason", "The reason for the transition into the object's current status."),
         Str0("Object", "The object that this event is about."),
         Str1("Subobject", "The field of the object this event is about."),
         Str1("Source", "The component reporting this event."),
         Str0("Message", "A human-readable description of the status of this operation."),
         Str1("First Seen", "The time at which the event was first recorded."),
         Str1("Count", "The number of times this event has occurred."),
         {"Name", "string", "name", kNameDoc, 1}},
        EventCells};
    m["Namespace"] = {{core},
                      {NameCol(), Str0("Status", "The status of the namespace"), AgeCol()},
                      NamespaceCells};
    m["Secret"] = {
        {core},
        {NameCol(), Str0("Type", "Used to facilitate programmatic handling of secret data."),
         Str0("Data", "The number of entries in the secret's data."), AgeCol()},
        SecretCells};
    m["ServiceAccount"] = {
        {core},
        {NameCol(), Str0("Secrets", "The secrets the service account's pods may use."), AgeCol()},
        ServiceAccountCells};
    m["PersistentVolume"] = {
        {core},
        {NameCol(), Str0("Capacity", "The storage capacity of the volume."),
         Str0("Access Modes", "The ways the volume can be mounted."),
         Str0("Reclaim Policy", "What happens to the volume when released from its claim."),
         Str0("Status", "The phase of the volume."),
         Str0("Claim", "The claim bound to this volume."),
         Str0("StorageClass", "StorageClass of the pv"),
         Str0("Reason", "Why the volume is in this phase."), AgeCol(),
         Str1("VolumeMode", "Whether the volume is a formatted filesystem or a raw block.")},
        PersistentVolumeCells};
    m["PersistentVolumeClaim"] = {
        {core},
        {NameCol(), Str0("Status", "The phase of the claim."),
         Str0("Volume", "The volume bound to this claim."),
         Str0("Capacity", "The actual resources of the underlying volume."),
         Str0("Access Modes", "The access modes of the underlying volume."),
         Str0("StorageClass", "StorageClass of the pvc"), AgeCol(),
         Str1("VolumeMode", "Whether the volume is a formatted filesystem or a raw block.")},
        PersistentVolumeClaimCells};
    m["Deployment"] = {
        {"apps", "extensions"},
        {NameCol(), Str0("Ready", "Number of the pod with ready state"),
         Str0("Up-to-date",
              "Total number of pods targeted by this deployment that have the "
              "desired template spec."),
         Str0("Available", "Total number of available pods targeted by this deployment."), AgeCol(),
         Str1("Containers", kContainersDoc), Str1("Images", kImagesDoc),
         Str1("Selector", "Label selector for pods.")},
        DeploymentCells};
    m["HorizontalPodAutoscaler"] = {
        {"autoscaling"},
        {NameCol(), Str0("Reference", "The resource being scaled."),
         Str0("Targets", "The metrics used to compute the desired replica count."),
         Str0("MinPods", "The lower limit for the number of replicas."),
         Str0("MaxPods", "The upper limit for the number of replicas."),
         Str0("Replicas", "The current number of replicas."), AgeCol()},
        HpaCells};
    m["ConfigMap"] = {
        {core},
        {NameCol(), Str0("Data", "The number of entries in the config map's data."), AgeCol()},
        ConfigMapCells};
    m["NetworkPolicy"] = {
        {"networking.k8s.io", "extensions"},
        {NameCol(), Str0("Pod-Selector", "The pods the policy applies to."), AgeCol()},
        NetworkPolicyCells};
    m["RoleBinding"] = {
        {"rbac.authorization.k8s.io"},
        {NameCol(), Str0("Role", "The role the binding refers to."), AgeCol(),
         Str1("Users", "Users in the roleBinding"), Str1("Groups", "Groups in the roleBinding"),
         Str1("ServiceAccounts", "ServiceAccounts in the roleBinding")},
        RoleBindingCells};
    m["ClusterRoleBinding"] = {
        {"rbac.authorization.k8s.io"},
        {NameCol(), Str0("Role", "The role the binding refers to."), AgeCol(),
         Str1("Users", "Users in the clusterRoleBinding"),
         Str1("Groups", "Groups in the clusterRoleBinding"),
         Str1("ServiceAccounts", "ServiceAccounts in the clusterRoleBinding")},
        RoleBindingCells};
    m["Lease"] = {{"coordination.k8s.io"},
                  {NameCol(), Str0("Holder", "The identity of the lease holder."), AgeCol()},
                  LeaseCells};
    m["StorageClass"] = {
        {"storage.k8s.io"},
        {NameCol(), Str0("Provisioner", "The type of the provisioner."),
         Str0("ReclaimPolicy", "The reclaim policy of dynamically provisioned volumes."),
         Str0("VolumeBindingMode", "When volumes are provisioned and bound."),
         Str0("AllowVolumeExpansion", "Whether the storage class allows volume expansion."),
         AgeCol()},
        StorageClassCells};
    m["ResourceQuota"] = {
        {core},
        {NameCol(), AgeCol(),
         Str0("Request",
              "Request represents a minimum amount of cpu/memory that a container may consume."),
         Str0("Limit",
              "Limits control the maximum amount of cpu/memory that a container may use "
              "independent of contention on the node.")},
        ResourceQuotaCells};
    m["PriorityClass"] = {
        {"scheduling.k8s.io"},
        {NameCol(),
         Int0("Value", "The priority value of pods using this class."),
         {"Global-Default", "boolean", "", "Whether this is the default priority class.", 0},
         AgeCol()},
        PriorityClassCells};
    return m;
  }();
  return printers;
}

Json ColumnJson(const Column& c) {
  return {{"name", c.name},
          {"type", c.type},
          {"format", c.format},
          {"description", c.description},
          {"priority", c.priority}};
}

// PartialObjectMetadata for a row: what kubectl reads labels from.
Json RowObject(const Json& obj) {
  const Json* meta = Get(obj, {"metadata"});
  return {{"kind", "PartialObjectMetadata"},
          {"apiVersion", "meta.k8s.io/v1"},
          {"metadata", (meta != nullptr && meta->is_object()) ? *meta : Json::object()}};
}

Json TableShell(const std::string& resource_version, const std::string& continue_token,
                int64_t remaining_item_count) {
  Json meta = {{"resourceVersion", resource_version}};
  if (!continue_token.empty()) meta["continue"] = continue_token;
  if (remaining_item_count >= 0) meta["remainingItemCount"] = remaining_item_count;
  return {{"kind", "Table"},
          {"apiVersion", "meta.k8s.io/v1"},
          {"metadata", std::move(meta)},
          {"columnDefinitions", Json::array()},
          {"rows", Json::array()}};
}

// ---- Simple JSON paths for CRD printer columns.

// Splits ".a.b[0].c" (optionally "{...}") into keys and indices. False for
// anything fancier (filters, wildcards, recursive descent).
bool ParseJsonPath(std::string path, std::vector<std::string>* steps) {
  if (path.size() >= 2 && path.front() == '{' && path.back() == '}') {
    path = path.substr(1, path.size() - 2);
  }
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') {
      size_t j = i + 1;
      while (j < path.size() && path[j] != '.' && path[j] != '[') ++j;
      if (j == i + 1) return false;
      steps->push_back(path.substr(i + 1, j - i - 1));
      i = j;
    } else if (path[i] == '[') {
      size_t j = path.find(']', i);
      if (j == std::string::npos || j == i + 1) return false;
      std::string idx = path.substr(i + 1, j - i - 1);
      // Short all-digit indices only, so the later std::stoul cannot throw.
      if (idx.size() > 9 || !std::all_of(idx.begin(), idx.end(), [](char c) {
            return std::isdigit(static_cast<unsigned char>(c)) != 0;
          })) {
        return false;
      }
      steps->push_back("[" + idx);
      i = j + 1;
    } else {
      return false;
    }
  }
  return !steps->empty();
}

const Json* FollowPath(const Json& obj, const std::vector<std::string>& steps) {
  const Json* cur = &obj;
  for (const std::string& s : steps) {
    if (s[0] == '[') {
      size_t idx = std::stoul(s.substr(1));
      if (!cur->is_array() || idx >= cur->size()) return nullptr;
      cur = &(*cur)[idx];
    } else {
      if (!cur->is_object()) return nullptr;
      auto it = cur->find(s);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    }
  }
  return cur;
}

// cellForJSONValue of the apiextensions table convertor.
Json CrdCell(const std::string& type, const Json* v, Clock::time_point now) {
  if (v == nullptr || v->is_null()) return nullptr;
  if (type == "string") {
    if (v->is_string()) return v->get<std::string>();
    return v->dump();  // jsonpath prints non-strings as text
  }
  if (type == "integer" && v->is_number()) return AsInt(v, 0);
  if (type == "number" && v->is_number()) return v->get<double>();
  if (type == "boolean" && v->is_boolean()) return v->get<bool>();
  if (type == "date" && v->is_string()) {
    Clock::time_point t;
    if (!ParseRfc3339(v->get<std::string>(), &t)) return "<invalid>";
    return HumanDuration(std::chrono::duration_cast<std::chrono::seconds>(now - t));
  }
  return nullptr;
}

// Strips the blanks around a media-type token.
std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

int ParseDigits(const std::string& s, size_t pos, size_t n, bool* ok) {
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) {
      *ok = false;
      return 0;
    }
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

}  // namespace

bool ParseRfc3339(const std::string& text, Clock::time_point* out) {
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)
  bool ok = true;
  if (text.size() < 20) return false;
  int year = ParseDigits(text, 0, 4, &ok);
  int month = ParseDigits(text, 5, 2, &ok);
  int day = ParseDigits(text, 8, 2, &ok);
  int hour = ParseDigits(text, 11, 2, &ok);
  int minute = ParseDigits(text, 14, 2, &ok);
  int second = ParseDigits(text, 17, 2, &ok);
  if (!ok || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't') ||
      text[13] != ':' || text[16] != ':') {
    return false;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return false;
  }
  size_t pos = 19;
  std::chrono::nanoseconds frac{0};
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int64_t scale = 100000000;
    size_t start = pos;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      frac += std::chrono::nanoseconds((text[pos] - '0') * scale);
      scale /= 10;
      ++pos;
    }
    if (pos == start) return false;
  }
  std::chrono::minutes offset{0};
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int sign = text[pos] == '-' ? -1 : 1;
    int oh = ParseDigits(text, pos + 1, 2, &ok);
    int om = ParseDigits(text, pos + 4, 2, &ok);
    if (!ok || pos + 3 >= text.size() || text[pos + 3] != ':') return false;
    offset = std::chrono::minutes(sign * (oh * 60 + om));
    pos += 6;
  } else {
    return false;
  }
  if (pos != text.size()) return false;
  std::chrono::year_month_day ymd{std::chrono::year(year), std::chrono::month(month),
                                  std::chrono::day(day)};
  if (!ymd.ok()) return false;
  auto t = std::chrono::sys_days(ymd) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
           std::chrono::seconds(second) - offset;
  *out =
      Clock::time_point(std::chrono::duration_cast<Clock::duration>(t.time_since_epoch() + frac));
  return true;
}

std::string HumanDuration(std::chrono::seconds d) {
  int64_t seconds = d.count();
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 60 * 2) return std::to_string(seconds) + "s";
  int64_t minutes = seconds / 60;
  if (minutes < 10) {
    int64_t s = seconds % 60;
    if (s == 0) return std::to_string(minutes) + "m";
    return std::to_string(minutes) + "m" + std::to_string(s) + "s";
  }
  if (minutes < 60 * 3) return std::to_string(minutes) + "m";
  int64_t hours = seconds / 3600;
  if (hours < 8) {
    int64_t m = minutes % 60;
    if (m == 0) return std::to_string(hours) + "h";
    return std::to_string(hours) + "h" + std::to_string(m) + "m";
  }
  if (hours < 48) return std::to_string(hours) + "h";
  if (hours < 24 * 8) {
    int64_t h = hours % 24;
    if (h == 0) return std::to_string(hours / 24) + "d";
    return std::to_string(hours / 24) + "d" + std::to_string(h) + "h";
  }
  if (hours < 24 * 365 * 2) return std::to_string(hours / 24) + "d";
  if (hours < 24 * 365 * 8) {
    int64_t dy = (hours / 24) % 365;
    if (dy == 0) return std::to_string(hours / 24 / 365) + "y";
    return std::to_string(hours / 24 / 365) + "y" + std::to_string(dy) + "d";
  }
  return std::to_string(hours / 24 / 365) + "y";
}

bool WantsTable(const std::string& accept_header, std::string* version) {
  size_t start = 0;
  while (start <= accept_header.size()) {
    size_t end = accept_header.find(',', start);
    if (end == std::string::npos) end = accept_header.size();
    std::string range = accept_header.substr(start, end - start);
    start = end + 1;

    std::vector<std::string> parts;
    size_t p = 0;
    while (p <= range.size()) {
      size_t q = range.find(';', p);
      if (q == std::string::npos) q = range.size();
      parts.push_back(Trim(range.substr(p, q - p)));
      p = q + 1;
    }
    std::string type = ToLower(parts[0]);
    if (type != "application/json" && type != "application/*" && type != "*/*") continue;
    std::map<std::string, std::string> params;
    for (size_t i = 1; i < parts.size(); ++i) {
      size_t eq = parts[i].find('=');
      if (eq == std::string::npos) continue;
      params[ToLower(Trim(parts[i].substr(0, eq)))] = Trim(parts[i].substr(eq + 1));
    }
    if (params.count("as") == 0) return false;  // a plain JSON range comes first
    if (params["as"] != "Table" || params["g"] != "meta.k8s.io") continue;
    const std::string& v = params["v"];
    if (v != "v1" && v != "v1beta1") continue;
    if (version != nullptr) *version = v;
    return true;
  }
  return false;
}

Json ToTable(const std::string& group, const std::string& kind, const std::vector<Json>& objects,
             const std::string& resource_version, const std::string& continue_token,
             int64_t remaining_item_count, Clock::time_point now) {
  Json table = TableShell(resource_version, continue_token, remaining_item_count);
  const std::vector<Column>* columns = &DefaultColumns();
  Json (*cells)(const Json&, Clock::time_point, Json*) = DefaultCells;
  auto it = Printers().find(kind);
  if (it != Printers().end()) {
    const auto& groups = it->second.groups;
    if (std::find(groups.begin(), groups.end(), group) != groups.end()) {
      columns = &it->second.columns;
      cells = it->second.cells;
    }
  }
  for (const Column& c : *columns) table["columnDefinitions"].push_back(ColumnJson(c));
  for (const Json& obj : objects) {
    Json row = Json::object();
    Json row_cells = obj.is_object() ? cells(obj, now, &row) : Json::array();
    Json out = {{"cells", std::move(row_cells)}};
    if (row.contains("conditions")) out["conditions"] = row["conditions"];
    out["object"] = RowObject(obj);
    table["rows"].push_back(std::move(out));
  }
  return table;
}

Json ToTableWithColumns(const Json& additional_printer_columns, const std::vector<Json>& objects,
                        const std::string& resource_version, const std::string& continue_token,
                        int64_t remaining_item_count, Clock::time_point now) {
  Json table = TableShell(resource_version, continue_token, remaining_item_count);
  table["columnDefinitions"].push_back(ColumnJson(NameCol()));

  // The apiextensions apiserver serves a lone "Age" column when the CRD
  // version declares none.
  Json columns = additional_printer_columns;
  if (!columns.is_array() || columns.empty()) {
    columns = Json::array({{{"name", "Age"},
                            {"type", "date"},
                            {"description", kCreationDoc},
                            {"jsonPath", ".metadata.creationTimestamp"}}});
  }
  std::vector<std::vector<std::string>> paths;
  std::vector<std::string> types;
  for (const Json& c : columns) {
    Json def = {{"name", Str(c, {"name"})},
                {"type", Str(c, {"type"})},
                {"format", Str(c, {"format"})},
                {"description", Str(c, {"description"})},
                {"priority", Int(c, {"priority"})}};
    table["columnDefinitions"].push_back(std::move(def));
    std::vector<std::string> steps;
    if (!ParseJsonPath(Str(c, {"jsonPath"}), &steps)) steps.clear();
    paths.push_back(std::move(steps));
    types.push_back(Str(c, {"type"}));
  }
  for (const Json& obj : objects) {
    Json cells = Json::array({Str(obj, {"metadata", "name"})});
    for (size_t i = 0; i < paths.size(); ++i) {
      const Json* v = paths[i].empty() ? nullptr : FollowPath(obj, paths[i]);
      cells.push_back(CrdCell(types[i], v, now));
    }
    table["rows"].push_back({{"cells", std::move(cells)}, {"object", RowObject(obj)}});
  }
  return table;
}

void SetTableVersion(const std::string& version, Json* table) {
  if (table == nullptr || !table->is_object()) return;
  const std::string api_version = "meta.k8s.io/" + version;
  (*table)["apiVersion"] = api_version;
  auto rows = table->find("rows");
  if (rows == table->end() || !rows->is_array()) return;
  for (Json& row : *rows) {
    if (row.is_object() && row.contains("object") && row["object"].is_object()) {
      row["object"]["apiVersion"] = api_version;
    }
  }
}

}  // namespace capstan::kube
