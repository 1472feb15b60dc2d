#include "kube-adapter/table_printer.h"

#include <gtest/gtest.h>

namespace capstan::kube {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

// All objects below are created at kCreated; tables are printed at kNow.
const char kCreated[] = "2026-11-27T01:02:03Z";

std::chrono::system_clock::time_point Now() {
  std::chrono::system_clock::time_point t;
  EXPECT_TRUE(ParseRfc3339(kCreated, &t));
  return t + minutes(5) + seconds(10);  // every AGE cell reads "5m10s"
}

Json Meta(const std::string& name, Json extra = Json::object()) {
  Json m = {{"name", name},
            {"namespace", "default"},
            {"uid", "u-" + name},
            {"creationTimestamp", kCreated}};
  m.update(extra);
  return m;
}

std::vector<std::string> ColumnNames(const Json& table) {
  std::vector<std::string> names;
  for (const Json& c : table["columnDefinitions"]) names.push_back(c["name"].get<std::string>());
  return names;
}

std::vector<int> Priorities(const Json& table) {
  std::vector<int> p;
  for (const Json& c : table["columnDefinitions"]) p.push_back(c["priority"].get<int>());
  return p;
}

Json Print(const std::string& group, const std::string& kind, const Json& obj) {
  return ToTable(group, kind, {obj}, "42", "", -1, Now());
}

TEST(TablePrinterTest, TableEnvelope) {
  Json obj = {{"kind", "ConfigMap"},
              {"metadata", Meta("a", {{"labels", {{"app", "web"}}}})},
              {"data", {{"k", "v"}}}};
  Json t = ToTable("", "ConfigMap", {obj}, "17", "tok", 5, Now());
  EXPECT_EQ(t["kind"], "Table");
  EXPECT_EQ(t["apiVersion"], "meta.k8s.io/v1");
  EXPECT_EQ(t["metadata"]["resourceVersion"], "17");
  EXPECT_EQ(t["metadata"]["continue"], "tok");
  EXPECT_EQ(t["metadata"]["remainingItemCount"], 5);
  ASSERT_EQ(t["rows"].size(), 1u);
  const Json& o = t["rows"][0]["object"];
  EXPECT_EQ(o["kind"], "PartialObjectMetadata");
  EXPECT_EQ(o["apiVersion"], "meta.k8s.io/v1");
  EXPECT_EQ(o["metadata"]["labels"]["app"], "web");
  EXPECT_EQ(o["metadata"]["uid"], "u-a");
  for (const Json& c : t["columnDefinitions"]) {
    for (const char* key : {"name", "type", "format", "description", "priority"}) {
      EXPECT_TRUE(c.contains(key)) << c.dump() << " lacks " << key;
    }
  }

  Json plain = ToTable("", "ConfigMap", {}, "18", "", -1, Now());
  EXPECT_FALSE(plain["metadata"].contains("continue"));
  EXPECT_FALSE(plain["metadata"].contains("remainingItemCount"));
  EXPECT_TRUE(plain["rows"].is_array());
  EXPECT_TRUE(plain["rows"].empty());

  SetTableVersion("v1beta1", &t);
  EXPECT_EQ(t["apiVersion"], "meta.k8s.io/v1beta1");
  EXPECT_EQ(t["rows"][0]["object"]["apiVersion"], "meta.k8s.io/v1beta1");
}

TEST(TablePrinterTest, PendingPod) {
  Json pod = {{"metadata", Meta("nginx")},
              {"spec", {{"containers", {{{"name", "nginx"}, {"image", "nginx:1.19"}}}}}},
              {"status", {{"phase", "Pending"}}}};
  Json t = Print("", "Pod", pod);
  EXPECT_EQ(ColumnNames(t),
            (std::vector<std::string>{"Name", "Ready", "Status", "Restarts", "Age", "IP", "Node",
                                      "Nominated Node", "Readiness Gates"}));
  EXPECT_EQ(Priorities(t), (std::vector<int>{0, 0, 0, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(t["columnDefinitions"][0]["format"], "name");
  EXPECT_EQ(t["columnDefinitions"][3]["type"], "integer");
  EXPECT_EQ(
      t["rows"][0]["cells"],
      Json::parse(R"(["nginx","0/1","Pending",0,"5m10s","<none>","<none>","<none>","<none>"])"));
}

TEST(TablePrinterTest, RunningAndWaitingPods) {
  Json running = {
      {"metadata", Meta("web")},
      {"spec", {{"nodeName", "n1"}, {"containers", {{{"name", "a"}}, {{"name", "b"}}}}}},
      {"status",
       {{"phase", "Running"},
        {"podIP", "10.0.0.5"},
        {"containerStatuses",
         {{{"name", "a"},
           {"ready", true},
           {"restartCount", 2},
           {"state", {{"running", {{"startedAt", kCreated}}}}}},
          {{"name", "b"},
           {"ready", false},
           {"restartCount", 1},
           {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}}}}}}}}}}};
  Json t = Print("", "Pod", running);
  EXPECT_EQ(t["rows"][0]["cells"], Json::parse(R"(["web","1/2","CrashLoopBackOff",3,"5m10s",
                                                 "10.0.0.5","n1","<none>","<none>"])"));

  Json init = {{"metadata", Meta("init")},
               {"spec", {{"initContainers", {{{"name", "i"}}}}, {"containers", {{{"name", "c"}}}}}},
               {"status",
                {{"phase", "Pending"},
                 {"initContainerStatuses",
                  {{{"name", "i"}, {"state", {{"running", {{"startedAt", kCreated}}}}}}}}}}};
  EXPECT_EQ(Print("", "Pod", init)["rows"][0]["cells"][2], "Init:0/1");

  Json done = {{"metadata", Meta("done")},
               {"spec", {{"containers", {{{"name", "c"}}}}}},
               {"status",
                {{"phase", "Succeeded"},
                 {"containerStatuses",
                  {{{"name", "c"},
                    {"state", {{"terminated", {{"exitCode", 0}, {"reason", "Completed"}}}}}}}}}}};
  Json dt = Print("", "Pod", done);
  EXPECT_EQ(dt["rows"][0]["cells"][2], "Completed");
  EXPECT_EQ(dt["rows"][0]["conditions"][0]["type"], "Completed");

  Json deleting = running;
  deleting["metadata"]["deletionTimestamp"] = kCreated;
  EXPECT_EQ(Print("", "Pod", deleting)["rows"][0]["cells"][2], "Terminating");
}

TEST(TablePrinterTest, Deployment) {
  Json d = {{"metadata", Meta("web")},
            {"spec",
             {{"replicas", 3},
              {"selector", {{"matchLabels", {{"app", "web"}, {"tier", "fe"}}}}},
              {"template",
               {{"spec",
                 {{"containers",
                   {{{"name", "nginx"}, {"image", "nginx:1.19"}},
                    {{"name", "side"}, {"image", "busybox"}}}}}}}}}},
            {"status", {{"readyReplicas", 2}, {"updatedReplicas", 3}, {"availableReplicas", 2}}}};
  Json t = Print("apps", "Deployment", d);
  EXPECT_EQ(ColumnNames(t), (std::vector<std::string>{"Name", "Ready", "Up-to-date", "Available",
                                                      "Age", "Containers", "Images", "Selector"}));
  EXPECT_EQ(Priorities(t), (std::vector<int>{0, 0, 0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(t["rows"][0]["cells"], Json::parse(R"(["web","2/3",3,2,"5m10s","nginx,side",
                                                 "nginx:1.19,busybox","app=web,tier=fe"])"));

  // A fresh deployment without status.
  Json fresh = {{"metadata", Meta("new")}, {"spec", {{"replicas", 1}}}};
  EXPECT_EQ(Print("apps", "Deployment", fresh)["rows"][0]["cells"][1], "0/1");
}

TEST(TablePrinterTest, Services) {
  Json cluster_ip = {{"metadata", Meta("kubernetes")},
                     {"spec",
                      {{"type", "ClusterIP"},
                       {"clusterIP", "10.96.0.1"},
                       {"ports", {{{"port", 443}, {"protocol", "TCP"}}}}}}};
  Json t = Print("", "Service", cluster_ip);
  EXPECT_EQ(ColumnNames(t), (std::vector<std::string>{"Name", "Type", "Cluster-IP", "External-IP",
                                                      "Port(s)", "Age", "Selector"}));
  EXPECT_EQ(t["rows"][0]["cells"], Json::parse(R"(["kubernetes","ClusterIP","10.96.0.1","<none>",
                                                 "443/TCP","5m10s","<none>"])"));

  Json node_port = {{"metadata", Meta("np")},
                    {"spec",
                     {{"type", "NodePort"},
                      {"clusterIPs", {"10.96.0.9"}},
                      {"selector", {{"app", "web"}}},
                      {"ports",
                       {{{"port", 80}, {"nodePort", 30080}, {"protocol", "TCP"}},
                        {{"port", 53}, {"protocol", "UDP"}}}}}}};
  EXPECT_EQ(Print("", "Service", node_port)["rows"][0]["cells"],
            Json::parse(R"(["np","NodePort","10.96.0.9","<none>","80:30080/TCP,53/UDP","5m10s",
                           "app=web"])"));

  Json lb = {{"metadata", Meta("lb")},
             {"spec", {{"type", "LoadBalancer"}, {"clusterIP", "10.96.0.7"}}}};
  EXPECT_EQ(Print("", "Service", lb)["rows"][0]["cells"][3], "<pending>");
  lb["status"]["loadBalancer"]["ingress"] = {{{"ip", "1.2.3.4"}}};
  EXPECT_EQ(Print("", "Service", lb)["rows"][0]["cells"][3], "1.2.3.4");

  Json ext = {{"metadata", Meta("ext")},
              {"spec", {{"type", "ExternalName"}, {"externalName", "example.com"}}}};
  Json et = Print("", "Service", ext);
  EXPECT_EQ(et["rows"][0]["cells"][2], "<none>");
  EXPECT_EQ(et["rows"][0]["cells"][3], "example.com");
  EXPECT_EQ(et["rows"][0]["cells"][4], "<none>");
}

TEST(TablePrinterTest, ConfigMapCountsDataAndBinaryData) {
  Json cm = {{"metadata", Meta("cfg")},
             {"data", {{"a", "1"}, {"b", "2"}}},
             {"binaryData", {{"c", "AAE="}}}};
  Json t = Print("", "ConfigMap", cm);
  EXPECT_EQ(ColumnNames(t), (std::vector<std::string>{"Name", "Data", "Age"}));
  EXPECT_EQ(t["rows"][0]["cells"], Json::parse(R"(["cfg",3,"5m10s"])"));
  Json empty = {{"metadata", Meta("empty")}};
  EXPECT_EQ(Print("", "ConfigMap", empty)["rows"][0]["cells"][1], 0);
}

TEST(TablePrinterTest, Secret) {
  Json s = {{"metadata", Meta("tls")},
            {"type", "kubernetes.io/tls"},
            {"data", {{"tls.crt", "eA=="}, {"tls.key", "eQ=="}}}};
  Json t = Print("", "Secret", s);
  EXPECT_EQ(ColumnNames(t), (std::vector<std::string>{"Name", "Type", "Data", "Age"}));
  EXPECT_EQ(t["rows"][0]["cells"], Json::parse(R"(["tls","kubernetes.io/tls",2,"5m10s"])"));
}

TEST(TablePrinterTest, NamespaceAndServiceAccount) {
  Json ns = {{"metadata", Meta("kube-system")}, {"status", {{"phase", "Active"}}}};
  Json t = Print("", "Namespace", ns);
  EXPECT_EQ(ColumnNames(t), (std::vector<std::string>{"Name", "Status", "Age"}));
  EXPECT_EQ(t["rows"][0]["cells"], Json::parse(R"(["kube-system","Active","5m10s"])"));

  Json sa = {{"metadata", Meta("default")}, {"secrets", {{{"name", "default-token-abc"}}}}};
  Json st = Print("", "ServiceAccount", sa);
  EXPECT_EQ(ColumnNames(st), (std::vector<std::string>{"Name", "Secrets", "Age"}));
  EXPECT_EQ(st["rows"][0]["cells"], Json::parse(R"(["default",1,"5m10s"])"));
}

TEST(TablePrinterTest, ResourceQuota) {
  Json rq = {
      {"metadata", Meta("quota")},
      {"spec", {{"hard", {{"pods", "3"}}}}},
      {"status",
       {{"hard",
         {{"pods", "3"}, {"requests.cpu", "1"}, {"limits.memory", "1Gi"}, {"limits.cpu", "2"}}},
        {"used", {{"pods", "1"}, {"requests.cpu", "500m"}}}}}};
  Json t = Print("", "ResourceQuota", rq);
  EXPECT_EQ(ColumnNames(t), (std::vector<std::string>{"Name", "Age", "Request", "Limit"}));
  EXPECT_EQ(t["rows"][0]["cells"],
            Json::parse(R"(["quota","5m10s","pods: 1/3, requests.cpu: 500m/1",
                           "limits.cpu: 0/2, limits.memory: 0/1Gi"])"));
  // Before the quota controller fills status, both columns are empty.
  Json fresh = {{"metadata", Meta("q2")}, {"spec", {{"hard", {{"pods", "3"}}}}}};
  EXPECT_EQ(Print("", "ResourceQuota", fresh)["rows"][0]["cells"],
            Json::parse(R"(["q2","5m10s","",""])"));
}

TEST(TablePrinterTest, RoleBinding) {
  Json rb = {{"metadata", Meta("rb")},
             {"roleRef",
              {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", "reader"}}},
             {"subjects",
              {{{"kind", "User"}, {"name", "alice"}},
               {{"kind", "User"}, {"name", "bob"}},
               {{"kind", "Group"}, {"name", "devs"}},
               {{"kind", "ServiceAccount"}, {"name", "builder"}, {"namespace", "ci"}}}}};
  Json t = Print("rbac.authorization.k8s.io", "RoleBinding", rb);
  EXPECT_EQ(ColumnNames(t), (std::vector<std::string>{"Name", "Role", "Age", "Users", "Groups",
                                                      "ServiceAccounts"}));
  EXPECT_EQ(Priorities(t), (std::vector<int>{0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(t["rows"][0]["cells"],
            Json::parse(R"(["rb","Role/reader","5m10s","alice, bob","devs","ci/builder"])"));
  Json crb = Print("rbac.authorization.k8s.io", "ClusterRoleBinding", rb);
  EXPECT_EQ(crb["rows"][0]["cells"][1], "Role/reader");
}

TEST(TablePrinterTest, PriorityClass) {
  Json pc = {{"metadata", Meta("high")}, {"value", 1000000}, {"globalDefault", false}};
  Json t = Print("scheduling.k8s.io", "PriorityClass", pc);
  EXPECT_EQ(ColumnNames(t), (std::vector<std::string>{"Name", "Value", "Global-Default", "Age"}));
  EXPECT_EQ(t["rows"][0]["cells"], Json::parse(R"(["high",1000000,false,"5m10s"])"));
}

TEST(TablePrinterTest, DefaultColumnsForKindsWithoutPrinters) {
  // Roles, limit ranges, CRDs and unknown kinds use the default convertor.
  for (const auto& [group, kind] : std::vector<std::pair<std::string, std::string>>{
           {"rbac.authorization.k8s.io", "Role"},
           {"", "LimitRange"},
           {"apiextensions.k8s.io", "CustomResourceDefinition"},
           {"stable.example.com", "CronTab"},
           {"stable.example.com", "Pod"}}) {  // a CR named like a built-in kind
    Json obj = {{"metadata", Meta("x")}, {"spec", {{"cronSpec", "* * * * */5"}}}};
    Json t = Print(group, kind, obj);
    EXPECT_EQ(ColumnNames(t), (std::vector<std::string>{"Name", "Created At"})) << kind;
    EXPECT_EQ(t["columnDefinitions"][1]["type"], "date");
    EXPECT_EQ(t["rows"][0]["cells"], Json::parse(R"(["x","2026-11-27T01:02:03Z"])")) << kind;
  }
}

TEST(TablePrinterTest, CustomResourceColumns) {
  Json cr = {{"metadata", Meta("my-tab")},
             {"spec", {{"cronSpec", "* * * * */5"}, {"replicas", 3}, {"list", {"a", "b"}}}}};
  // No additionalPrinterColumns: the apiextensions default "Age" column.
  Json t = ToTableWithColumns(Json::array(), {cr}, "9", "", -1, Now());
  EXPECT_EQ(ColumnNames(t), (std::vector<std::string>{"Name", "Age"}));
  EXPECT_EQ(t["columnDefinitions"][1]["type"], "date");
  EXPECT_EQ(t["rows"][0]["cells"], Json::parse(R"(["my-tab","5m10s"])"));
  EXPECT_EQ(t["rows"][0]["object"]["metadata"]["name"], "my-tab");

  Json cols = Json::parse(R"([
    {"name":"Spec","type":"string","jsonPath":".spec.cronSpec"},
    {"name":"Replicas","type":"integer","jsonPath":".spec.replicas","priority":1},
    {"name":"First","type":"string","jsonPath":"{.spec.list[0]}"},
    {"name":"Missing","type":"string","jsonPath":".status.nope"},
    {"name":"Fancy","type":"string","jsonPath":".spec.list[*]"},
    {"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}])");
  Json c = ToTableWithColumns(cols, {cr}, "9", "", -1, Now());
  EXPECT_EQ(ColumnNames(c), (std::vector<std::string>{"Name", "Spec", "Replicas", "First",
                                                      "Missing", "Fancy", "Age"}));
  EXPECT_EQ(Priorities(c), (std::vector<int>{0, 0, 1, 0, 0, 0, 0}));
  EXPECT_EQ(c["rows"][0]["cells"],
            Json::parse(R"(["my-tab","* * * * */5",3,"a",null,null,"5m10s"])"));
}

TEST(TablePrinterTest, MalformedObjectsDoNotThrow) {
  std::vector<Json> junk = {Json(), Json(7), Json::array(), Json::parse(R"({"metadata":5})"),
                            Json::parse(R"({"metadata":{"name":3,"creationTimestamp":"soon"},
                                            "spec":{"containers":"x","replicas":"two"},
                                            "status":{"containerStatuses":[1,{"state":4}]}})")};
  for (const char* kind : {"Pod",
                           "Deployment",
                           "Service",
                           "ConfigMap",
                           "Secret",
                           "Namespace",
                           "ResourceQuota",
                           "Node",
                           "Event",
                           "Job",
                           "CronJob",
                           "Ingress",
                           "PersistentVolume",
                           "PersistentVolumeClaim",
                           "StatefulSet",
                           "DaemonSet",
                           "ReplicaSet",
                           "HorizontalPodAutoscaler",
                           "Endpoints",
                           "StorageClass",
                           "ServiceAccount",
                           "PriorityClass",
                           "Role"}) {
    for (const char* group : {"", "apps", "batch", "networking.k8s.io", "autoscaling",
                              "storage.k8s.io", "scheduling.k8s.io", "rbac.authorization.k8s.io"}) {
      Json t;
      EXPECT_NO_THROW(t = ToTable(group, kind, junk, "1", "", -1, Now())) << kind;
      EXPECT_EQ(t["rows"].size(), junk.size());
    }
  }
  EXPECT_NO_THROW(ToTableWithColumns(Json::parse(R"([{"name":"X","jsonPath":".a[99999999999]"}])"),
                                     junk, "1", "", -1, Now()));
}

TEST(TablePrinterTest, OtherKinds) {
  auto now = Now();
  Json node = {{"metadata", Meta("n1", {{"labels", {{"node-role.kubernetes.io/master", ""}}}})},
               {"spec", {{"unschedulable", true}}},
               {"status",
                {{"conditions", {{{"type", "Ready"}, {"status", "True"}}}},
                 {"addresses", {{{"type", "InternalIP"}, {"address", "192.168.0.2"}}}},
                 {"nodeInfo", {{"kubeletVersion", "v1.20.2"}}}}}};
  EXPECT_EQ(ToTable("", "Node", {node}, "1", "", -1, now)["rows"][0]["cells"],
            Json::parse(R"(["n1","Ready,SchedulingDisabled","master","5m10s","v1.20.2",
                           "192.168.0.2","<none>","<unknown>","<unknown>","<unknown>"])"));

  Json sts = {
      {"metadata", Meta("db")}, {"spec", {{"replicas", 3}}}, {"status", {{"readyReplicas", 1}}}};
  EXPECT_EQ(ToTable("apps", "StatefulSet", {sts}, "1", "", -1, now)["rows"][0]["cells"],
            Json::parse(R"(["db","1/3","5m10s","",""])"));

  Json job = {
      {"metadata", Meta("pi")},
      {"spec", {{"completions", 1}, {"selector", {{"matchLabels", {{"controller-uid", "x"}}}}}}},
      {"status",
       {{"succeeded", 1},
        {"startTime", "2026-11-27T01:02:03Z"},
        {"completionTime", "2026-11-27T01:02:40Z"}}}};
  EXPECT_EQ(ToTable("batch", "Job", {job}, "1", "", -1, now)["rows"][0]["cells"],
            Json::parse(R"(["pi","1/1","37s","5m10s","","","controller-uid=x"])"));

  Json pvc = {{"metadata", Meta("data")},
              {"spec", {{"volumeName", "pv1"}, {"storageClassName", "standard"}}},
              {"status",
               {{"phase", "Bound"},
                {"accessModes", {"ReadWriteOnce"}},
                {"capacity", {{"storage", "1Gi"}}}}}};
  EXPECT_EQ(ToTable("", "PersistentVolumeClaim", {pvc}, "1", "", -1, now)["rows"][0]["cells"],
            Json::parse(R"(["data","Bound","pv1","1Gi","RWO","standard","5m10s","<unset>"])"));

  Json ev = {{"metadata", Meta("web.1")},
             {"involvedObject", {{"kind", "Pod"}, {"name", "web"}}},
             {"type", "Normal"},
             {"reason", "Scheduled"},
             {"message", "Successfully assigned default/web to n1 "},
             {"source", {{"component", "default-scheduler"}}},
             {"firstTimestamp", kCreated},
             {"lastTimestamp", kCreated},
             {"count", 1}};
  Json et = ToTable("", "Event", {ev}, "1", "", -1, now);
  EXPECT_EQ(et["columnDefinitions"][0]["name"], "Last Seen");
  EXPECT_EQ(et["rows"][0]["cells"],
            Json::parse(R"(["5m10s","Normal","Scheduled","pod/web","","default-scheduler",
                           "Successfully assigned default/web to n1","5m10s",1,"web.1"])"));

  Json sc = {{"metadata",
              Meta("standard",
                   {{"annotations", {{"storageclass.kubernetes.io/is-default-class", "true"}}}})},
             {"provisioner", "rancher.io/local-path"}};
  EXPECT_EQ(ToTable("storage.k8s.io", "StorageClass", {sc}, "1", "", -1, now)["rows"][0]["cells"],
            Json::parse(R"j(["standard (default)","rancher.io/local-path","Delete","Immediate",
                           false,"5m10s"])j"));

  Json ep = {{"metadata", Meta("web")},
             {"subsets",
              {{{"addresses", {{{"ip", "10.0.0.1"}}, {{"ip", "10.0.0.2"}}}},
                {"ports", {{{"port", 80}}, {{"port", 443}}}}}}}};
  EXPECT_EQ(ToTable("", "Endpoints", {ep}, "1", "", -1, now)["rows"][0]["cells"][1],
            "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...");

  Json hpa = {{"metadata", Meta("web")},
              {"spec",
               {{"scaleTargetRef", {{"kind", "Deployment"}, {"name", "web"}}},
                {"minReplicas", 1},
                {"maxReplicas", 5},
                {"targetCPUUtilizationPercentage", 80}}},
              {"status", {{"currentReplicas", 2}}}};
  EXPECT_EQ(ToTable("autoscaling", "HorizontalPodAutoscaler", {hpa}, "1", "", -1,
                    now)["rows"][0]["cells"],
            Json::parse(R"(["web","Deployment/web","<unknown>/80%","1",5,2,"5m10s"])"));

  Json ing = {{"metadata", Meta("web")},
              {"spec", {{"rules", {{{"host", "a.example.com"}}}}, {"tls", {{{"hosts", {"a"}}}}}}}};
  EXPECT_EQ(ToTable("networking.k8s.io", "Ingress", {ing}, "1", "", -1, now)["rows"][0]["cells"],
            Json::parse(R"(["web","<none>","a.example.com","","80, 443","5m10s"])"));
}

TEST(HumanDurationTest, MatchesApimachinery) {
  struct Case {
    std::chrono::seconds d;
    const char* want;
  };
  const Case cases[] = {
      {seconds(-2), "<invalid>"},
      {seconds(-1), "0s"},
      {seconds(0), "0s"},
      {seconds(1), "1s"},
      {seconds(45), "45s"},
      {seconds(119), "119s"},
      {seconds(120), "2m"},
      {seconds(310), "5m10s"},
      {seconds(599), "9m59s"},
      {minutes(10), "10m"},
      {minutes(10) + seconds(59), "10m"},
      {minutes(179), "179m"},
      {hours(3), "3h"},
      {hours(3) + minutes(30), "3h30m"},
      {hours(7) + minutes(59), "7h59m"},
      {hours(8), "8h"},
      {hours(47) + minutes(59), "47h"},
      {hours(48), "2d"},
      {hours(53), "2d5h"},
      {hours(24 * 8 - 1), "7d23h"},
      {hours(24 * 8), "8d"},
      {hours(24 * 365 * 2 - 1), "729d"},
      {hours(24 * 365 * 2), "2y"},
      {hours(24 * (365 * 3 + 12)), "3y12d"},
      {hours(24 * 365 * 8), "8y"},
      {hours(24 * (365 * 9 + 100)), "9y"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(HumanDuration(c.d), c.want) << c.d.count() << "s";
  }
}

TEST(Rfc3339Test, Parses) {
  std::chrono::system_clock::time_point a, b, c;
  ASSERT_TRUE(ParseRfc3339("2026-11-27T01:02:03Z", &a));
  EXPECT_EQ(std::chrono::duration_cast<seconds>(a.time_since_epoch()).count(), 1795741323);
  ASSERT_TRUE(ParseRfc3339("2026-11-27T02:02:03.5+01:00", &b));
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count(), 500);
  ASSERT_TRUE(ParseRfc3339("1970-01-01T00:00:00Z", &c));
  EXPECT_EQ(c.time_since_epoch().count(), 0);
  for (const char* bad :
       {"", "2026-11-27", "2026-11-27T01:02:03", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
        "2026-11-27T01:02:03Zjunk", "null", "2026-11-27T01:02:03+0100"}) {
    EXPECT_FALSE(ParseRfc3339(bad, &c)) << bad;
  }
}

TEST(WantsTableTest, Kubectl120AcceptHeader) {
  std::string version;
  EXPECT_TRUE(
      WantsTable("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;"
                 "v=v1beta1;g=meta.k8s.io,application/json",
                 &version));
  EXPECT_EQ(version, "v1");
}

TEST(WantsTableTest, Variants) {
  std::string version;
  EXPECT_TRUE(
      WantsTable("application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json", &version));
  EXPECT_EQ(version, "v1beta1");
  // An unsupported version is skipped in favour of the next range.
  version.clear();
  EXPECT_TRUE(WantsTable(
      "application/json;as=Table;v=v2;g=meta.k8s.io,application/json; as=Table; g=meta.k8s.io; "
      "v=v1",
      &version));
  EXPECT_EQ(version, "v1");
  EXPECT_TRUE(WantsTable("application/json;as=Table;v=v1;g=meta.k8s.io"));  // null out param

  EXPECT_FALSE(WantsTable("application/json", &version));
  EXPECT_FALSE(WantsTable("", &version));
  EXPECT_FALSE(WantsTable("*/*", &version));
  EXPECT_FALSE(WantsTable("application/json,application/json;as=Table;v=v1;g=meta.k8s.io"));
  EXPECT_FALSE(WantsTable("application/json;as=Table;v=v1;g=other.io"));
  EXPECT_FALSE(WantsTable("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"));
  EXPECT_FALSE(WantsTable("application/yaml;as=Table;v=v1;g=meta.k8s.io"));
}

}  // namespace
}  // namespace capstan::kube
