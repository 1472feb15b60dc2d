#include "kube-adapter/object_defaults.h"

#include <map>

#include "kube-adapter/quantity.h"

namespace capstan::kube {
namespace {

// obj[key] if it is a string, else "" (Json::value would throw on a
// non-string).
std::string Str(const Json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return (it != obj.end() && it->is_string()) ? it->get<std::string>() : "";
}

// Sets obj[key] = value when the key is absent or null.
void Default(Json* obj, const char* key, Json value) {
  auto it = obj->find(key);
  if (it == obj->end() || it->is_null()) (*obj)[key] = std::move(value);
}

// The object at obj[key], created when absent; null when obj[key] holds a
// non-object (malformed input is left for validation to reject).
Json* Child(Json* obj, const char* key) {
  if (!obj->is_object()) return nullptr;
  auto it = obj->find(key);
  if (it == obj->end() || it->is_null()) {
    (*obj)[key] = Json::object();
    return &(*obj)[key];
  }
  return it->is_object() ? &*it : nullptr;
}

// The object at obj[key] if present, else null (does not create).
Json* Existing(Json* obj, const char* key) {
  if (obj == nullptr || !obj->is_object()) return nullptr;
  auto it = obj->find(key);
  return (it != obj->end() && it->is_object()) ? &*it : nullptr;
}

// "Always" for :latest or an untagged image, else "IfNotPresent"; a digest
// reference has no tag (docker reference parsing as kube does it).
std::string DefaultPullPolicy(const std::string& image) {
  if (image.find('@') != std::string::npos) return "IfNotPresent";
  size_t slash = image.rfind('/');
  size_t colon = image.rfind(':');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) return "Always";
  return image.substr(colon + 1) == "latest" ? "Always" : "IfNotPresent";
}

void DefaultProbe(Json* probe) {
  if (probe == nullptr) return;
  Default(probe, "timeoutSeconds", 1);
  Default(probe, "periodSeconds", 10);
  Default(probe, "successThreshold", 1);
  Default(probe, "failureThreshold", 3);
  if (Json* http = Existing(probe, "httpGet")) {
    Default(http, "path", "/");
    Default(http, "scheme", "HTTP");
  }
}

void DefaultContainer(Json* c) {
  if (!c->is_object()) return;
  if (auto img = c->find("image"); img != c->end() && img->is_string()) {
    Default(c, "imagePullPolicy", DefaultPullPolicy(img->get<std::string>()));
  }
  Default(c, "terminationMessagePath", "/dev/termination-log");
  Default(c, "terminationMessagePolicy", "File");
  if (auto ports = c->find("ports"); ports != c->end() && ports->is_array()) {
    for (auto& p : *ports) {
      if (p.is_object()) Default(&p, "protocol", "TCP");
    }
  }
  if (auto env = c->find("env"); env != c->end() && env->is_array()) {
    for (auto& e : *env) {
      Json* field_ref = Existing(Existing(&e, "valueFrom"), "fieldRef");
      if (field_ref != nullptr) Default(field_ref, "apiVersion", "v1");
    }
  }
  DefaultProbe(Existing(c, "livenessProbe"));
  DefaultProbe(Existing(c, "readinessProbe"));
  DefaultProbe(Existing(c, "startupProbe"));
}

void DefaultVolume(Json* v) {
  if (!v->is_object()) return;
  bool has_source = false;
  for (const auto& [k, val] : v->items()) {
    if (k != "name" && !val.is_null()) has_source = true;
  }
  if (!has_source) (*v)["emptyDir"] = Json::object();
  if (Json* s = Existing(v, "secret")) Default(s, "defaultMode", 420);
  if (Json* cm = Existing(v, "configMap")) Default(cm, "defaultMode", 420);
  if (Json* dapi = Existing(v, "downwardAPI")) Default(dapi, "defaultMode", 420);
  if (Json* proj = Existing(v, "projected")) Default(proj, "defaultMode", 420);
}

template <typename F>
void ForEachContainer(Json* spec, F&& f) {
  for (const char* list : {"initContainers", "containers", "ephemeralContainers"}) {
    auto it = spec->find(list);
    if (it == spec->end() || !it->is_array()) continue;
    for (auto& c : *it) f(list, &c);
  }
}

// SetDefaults_PodSpec and the per-container defaults (pods and templates).
void DefaultPodSpec(Json* spec) {
  if (spec == nullptr) return;
  Default(spec, "dnsPolicy", "ClusterFirst");
  Default(spec, "restartPolicy", "Always");
  Default(spec, "terminationGracePeriodSeconds", 30);
  Default(spec, "securityContext", Json::object());
  Default(spec, "schedulerName", "default-scheduler");
  ForEachContainer(spec, [](const char*, Json* c) { DefaultContainer(c); });
  if (auto vols = spec->find("volumes"); vols != spec->end() && vols->is_array()) {
    for (auto& v : *vols) DefaultVolume(&v);
  }
}

void DefaultPodTemplate(Json* template_obj) {
  DefaultPodSpec(template_obj == nullptr ? nullptr : Existing(template_obj, "spec"));
}

// SetDefaults_Pod: requests default to limits, per resource, for
// containers and init containers (not for templates).
void DefaultPod(Json* pod) {
  Json* spec = Existing(pod, "spec");
  if (spec == nullptr) return;
  ForEachContainer(spec, [](const char* list, Json* c) {
    if (std::string(list) == "ephemeralContainers") return;
    Json* res = Existing(c, "resources");
    if (Existing(res, "limits") == nullptr) return;
    // ordered_json keeps members in a vector: create "requests" before taking
    // a pointer to "limits", since the insertion may move it.
    Json* requests = Child(res, "requests");
    Json* limits = Existing(res, "limits");
    if (requests == nullptr || limits == nullptr) return;
    for (const auto& [k, v] : limits->items()) {
      if (!requests->contains(k)) (*requests)[k] = v;
    }
  });
  Default(spec, "enableServiceLinks", true);
  DefaultPodSpec(spec);
}

void DefaultService(Json* svc) {
  Json* spec = Existing(svc, "spec");
  if (spec == nullptr) return;
  Default(spec, "sessionAffinity", "None");
  Default(spec, "type", "ClusterIP");
  if (auto ports = spec->find("ports"); ports != spec->end() && ports->is_array()) {
    for (auto& p : *ports) {
      if (!p.is_object()) continue;
      Default(&p, "protocol", "TCP");
      auto tp = p.find("targetPort");
      bool unset = tp == p.end() || tp->is_null() || *tp == 0 || *tp == "";
      if (unset && p.contains("port")) {
        Json port = p["port"];  // copy first: inserting targetPort may move members
        p["targetPort"] = std::move(port);
      }
    }
  }
  const std::string type = Str(*spec, "type");
  if (type == "NodePort" || type == "LoadBalancer")
    Default(spec, "externalTrafficPolicy", "Cluster");
}

void DefaultLimitRange(Json* lr) {
  Json* spec = Existing(lr, "spec");
  if (spec == nullptr) return;
  auto limits = spec->find("limits");
  if (limits == spec->end() || !limits->is_array()) return;
  for (auto& item : *limits) {
    if (!item.is_object() || Str(item, "type") != "Container") continue;
    Json def =
        item.contains("default") && item["default"].is_object() ? item["default"] : Json::object();
    Json def_req = item.contains("defaultRequest") && item["defaultRequest"].is_object()
                       ? item["defaultRequest"]
                       : Json::object();
    auto fill = [](Json* into, const Json& from) {
      if (!from.is_object()) return;
      for (const auto& [k, v] : from.items()) {
        if (!into->contains(k)) (*into)[k] = v;
      }
    };
    if (item.contains("max")) fill(&def, item["max"]);
    fill(&def_req, def);
    if (item.contains("min")) fill(&def_req, item["min"]);
    if (!def.empty()) item["default"] = std::move(def);
    if (!def_req.empty()) item["defaultRequest"] = std::move(def_req);
  }
}

void DefaultDeployment(Json* d) {
  Json* spec = Existing(d, "spec");
  if (spec == nullptr) return;
  Default(spec, "replicas", 1);
  Json* strategy = Child(spec, "strategy");
  if (strategy != nullptr) {
    Default(strategy, "type", "RollingUpdate");
    if ((*strategy)["type"] == "RollingUpdate") {
      Json* ru = Child(strategy, "rollingUpdate");
      if (ru != nullptr) {
        Default(ru, "maxUnavailable", "25%");
        Default(ru, "maxSurge", "25%");
      }
    }
  }
  Default(spec, "revisionHistoryLimit", 10);
  Default(spec, "progressDeadlineSeconds", 600);
  DefaultPodTemplate(Existing(spec, "template"));
}

void DefaultStatefulSet(Json* s) {
  Json* spec = Existing(s, "spec");
  if (spec == nullptr) return;
  Default(spec, "podManagementPolicy", "OrderedReady");
  Json* strategy = Child(spec, "updateStrategy");
  if (strategy != nullptr) {
    Default(strategy, "type", "RollingUpdate");
    if ((*strategy)["type"] == "RollingUpdate") {
      Json* ru = Child(strategy, "rollingUpdate");
      if (ru != nullptr) Default(ru, "partition", 0);
    }
  }
  Default(spec, "replicas", 1);
  Default(spec, "revisionHistoryLimit", 10);
  if (auto vcts = spec->find("volumeClaimTemplates"); vcts != spec->end() && vcts->is_array()) {
    for (auto& pvc : *vcts) {
      if (Json* pspec = Existing(&pvc, "spec")) Default(pspec, "volumeMode", "Filesystem");
      if (Json* status = Child(&pvc, "status")) Default(status, "phase", "Pending");
    }
  }
  DefaultPodTemplate(Existing(spec, "template"));
}

void DefaultDaemonSet(Json* ds) {
  Json* spec = Existing(ds, "spec");
  if (spec == nullptr) return;
  Json* strategy = Child(spec, "updateStrategy");
  if (strategy != nullptr) {
    Default(strategy, "type", "RollingUpdate");
    if ((*strategy)["type"] == "RollingUpdate") {
      Json* ru = Child(strategy, "rollingUpdate");
      if (ru != nullptr) Default(ru, "maxUnavailable", 1);
    }
  }
  Default(spec, "revisionHistoryLimit", 10);
  DefaultPodTemplate(Existing(spec, "template"));
}

// SetDefaults_Job; `job` may be a Job or a CronJob's jobTemplate.
void DefaultJobSpec(Json* spec) {
  if (spec == nullptr) return;
  bool no_completions = !spec->contains("completions") || (*spec)["completions"].is_null();
  bool no_parallelism = !spec->contains("parallelism") || (*spec)["parallelism"].is_null();
  if (no_completions && no_parallelism) (*spec)["completions"] = 1;
  Default(spec, "parallelism", 1);
  Default(spec, "backoffLimit", 6);
  DefaultPodTemplate(Existing(spec, "template"));
}

void DefaultJob(Json* job) {
  Json* spec = Existing(job, "spec");
  if (spec == nullptr) return;
  DefaultJobSpec(spec);
  // A Job without labels takes its pod template's labels.
  Json* tmpl_meta = Existing(Existing(spec, "template"), "metadata");
  Json* meta = Existing(job, "metadata");
  if (tmpl_meta != nullptr && meta != nullptr && tmpl_meta->contains("labels") &&
      (*tmpl_meta)["labels"].is_object()) {
    auto labels = meta->find("labels");
    if (labels == meta->end() || !labels->is_object() || labels->empty()) {
      (*meta)["labels"] = (*tmpl_meta)["labels"];
    }
  }
}

void DefaultCronJob(Json* cj) {
  Json* spec = Existing(cj, "spec");
  if (spec == nullptr) return;
  Default(spec, "concurrencyPolicy", "Allow");
  Default(spec, "suspend", false);
  Default(spec, "successfulJobsHistoryLimit", 3);
  Default(spec, "failedJobsHistoryLimit", 1);
  DefaultJobSpec(Existing(Existing(spec, "jobTemplate"), "spec"));
}

void DefaultReplicationController(Json* rc) {
  Json* spec = Existing(rc, "spec");
  if (spec == nullptr) return;
  Json* tmpl_meta = Existing(Existing(spec, "template"), "metadata");
  if (tmpl_meta != nullptr && tmpl_meta->contains("labels") && (*tmpl_meta)["labels"].is_object()) {
    const Json labels = (*tmpl_meta)["labels"];  // a copy: the inserts below may move members
    auto sel = spec->find("selector");
    if (sel == spec->end() || !sel->is_object() || sel->empty()) (*spec)["selector"] = labels;
    Json* meta = Existing(rc, "metadata");
    if (meta != nullptr) {
      auto l = meta->find("labels");
      if (l == meta->end() || !l->is_object() || l->empty()) (*meta)["labels"] = labels;
    }
  }
  Default(spec, "replicas", 1);
  DefaultPodTemplate(Existing(spec, "template"));
}

}  // namespace

void ApplyDefaults(const std::string& group, const std::string& kind, Json* obj) {
  if (obj == nullptr || !obj->is_object()) return;
  if (group.empty()) {
    if (kind == "Pod") {
      DefaultPod(obj);
    } else if (kind == "PodTemplate") {
      DefaultPodTemplate(Existing(obj, "template"));
    } else if (kind == "ReplicationController") {
      DefaultReplicationController(obj);
    } else if (kind == "Service") {
      DefaultService(obj);
    } else if (kind == "Secret") {
      Default(obj, "type", "Opaque");
    } else if (kind == "PersistentVolumeClaim") {
      if (Json* spec = Existing(obj, "spec")) Default(spec, "volumeMode", "Filesystem");
      if (Json* status = Child(obj, "status")) Default(status, "phase", "Pending");
    } else if (kind == "Namespace") {
      if (Json* status = Child(obj, "status")) Default(status, "phase", "Active");
    } else if (kind == "LimitRange") {
      DefaultLimitRange(obj);
    }
  } else if (group == "apps") {
    if (kind == "Deployment") {
      DefaultDeployment(obj);
    } else if (kind == "ReplicaSet") {
      if (Json* spec = Existing(obj, "spec")) {
        Default(spec, "replicas", 1);
        DefaultPodTemplate(Existing(spec, "template"));
      }
    } else if (kind == "StatefulSet") {
      DefaultStatefulSet(obj);
    } else if (kind == "DaemonSet") {
      DefaultDaemonSet(obj);
    }
  } else if (group == "batch") {
    if (kind == "Job") {
      DefaultJob(obj);
    } else if (kind == "CronJob") {
      DefaultCronJob(obj);
    }
  }
}

std::string PodQosClass(const Json& pod) {
  // Sums of non-zero cpu/memory requests and limits over all containers.
  std::map<std::string, Quantity> requests, limits;
  bool guaranteed = true;
  const Json* spec = nullptr;
  if (pod.is_object()) {
    auto it = pod.find("spec");
    if (it != pod.end() && it->is_object()) spec = &*it;
  }
  if (spec != nullptr) {
    for (const char* list : {"containers", "initContainers"}) {
      auto cs = spec->find(list);
      if (cs == spec->end() || !cs->is_array()) continue;
      for (const auto& c : *cs) {
        if (!c.is_object()) continue;
        auto res = c.find("resources");
        const Json empty = Json::object();
        const Json& r = (res != c.end() && res->is_object()) ? *res : empty;
        bool cpu_limit = false, mem_limit = false;
        for (const char* which : {"requests", "limits"}) {
          auto m = r.find(which);
          if (m == r.end() || !m->is_object()) continue;
          for (const char* name : {"cpu", "memory"}) {
            auto q = m->find(name);
            if (q == m->end()) continue;
            Quantity n;
            std::string error;
            if (!Quantity::FromJson(*q, &n, &error) || n.IsZero()) continue;
            if (std::string(which) == "requests") {
              requests[name].Add(n);
            } else {
              limits[name].Add(n);
              (std::string(name) == "cpu" ? cpu_limit : mem_limit) = true;
            }
          }
        }
        if (!cpu_limit || !mem_limit) guaranteed = false;
      }
    }
  }
  if (requests.empty() && limits.empty()) return "BestEffort";
  if (guaranteed) {
    for (const auto& [name, req] : requests) {
      auto l = limits.find(name);
      if (l == limits.end() || l->second.Compare(req) != 0) {
        guaranteed = false;
        break;
      }
    }
  }
  if (guaranteed && requests.size() == limits.size()) return "Guaranteed";
  return "Burstable";
}

}  // namespace capstan::kube
