#include "kube-adapter/object_defaults.h"

#include <gtest/gtest.h>

namespace capstan::kube {
namespace {

TEST(ObjectDefaultsTest, PodDefaultsAndRequestsFromLimits) {
  Json pod = Json::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
    "spec":{"containers":[
      {"name":"a","image":"nginx","ports":[{"containerPort":80}],
       "resources":{"limits":{"cpu":"500m","memory":"128Mi"},"requests":{"cpu":"100m"}}},
      {"name":"b","image":"nginx:1.19"},
      {"name":"c","image":"nginx:latest"},
      {"name":"d","image":"localhost:5000/app"},
      {"name":"e","image":"nginx@sha256:abc"}],
     "initContainers":[{"name":"i","image":"busybox:1","resources":{"limits":{"cpu":"1"}}}],
     "volumes":[{"name":"v"},{"name":"s","secret":{"secretName":"x"}}]}})");
  ApplyDefaults("", "Pod", &pod);
  const Json& spec = pod["spec"];
  EXPECT_EQ(spec["restartPolicy"], "Always");
  EXPECT_EQ(spec["dnsPolicy"], "ClusterFirst");
  EXPECT_EQ(spec["terminationGracePeriodSeconds"], 30);
  EXPECT_EQ(spec["schedulerName"], "default-scheduler");
  EXPECT_EQ(spec["securityContext"], Json::object());
  EXPECT_EQ(spec["enableServiceLinks"], true);
  const Json& a = spec["containers"][0];
  EXPECT_EQ(a["resources"]["requests"], Json::parse(R"({"cpu":"100m","memory":"128Mi"})"));
  EXPECT_EQ(a["imagePullPolicy"], "Always");
  EXPECT_EQ(a["terminationMessagePath"], "/dev/termination-log");
  EXPECT_EQ(a["terminationMessagePolicy"], "File");
  EXPECT_EQ(a["ports"][0]["protocol"], "TCP");
  EXPECT_EQ(spec["containers"][1]["imagePullPolicy"], "IfNotPresent");
  EXPECT_EQ(spec["containers"][2]["imagePullPolicy"], "Always");
  EXPECT_EQ(spec["containers"][3]["imagePullPolicy"], "Always");
  EXPECT_EQ(spec["containers"][4]["imagePullPolicy"], "IfNotPresent");
  EXPECT_EQ(spec["initContainers"][0]["resources"]["requests"], Json::parse(R"({"cpu":"1"})"));
  EXPECT_EQ(spec["volumes"][0]["emptyDir"], Json::object());
  EXPECT_EQ(spec["volumes"][1]["secret"]["defaultMode"], 420);
  EXPECT_FALSE(spec["volumes"][1].contains("emptyDir"));
}

TEST(ObjectDefaultsTest, ExplicitValuesAreKept) {
  Json pod = Json::parse(R"({"spec":{"restartPolicy":"Never","terminationGracePeriodSeconds":0,
      "containers":[{"name":"a","image":"x","imagePullPolicy":"Never"}]}})");
  ApplyDefaults("", "Pod", &pod);
  EXPECT_EQ(pod["spec"]["restartPolicy"], "Never");
  EXPECT_EQ(pod["spec"]["terminationGracePeriodSeconds"], 0);
  EXPECT_EQ(pod["spec"]["containers"][0]["imagePullPolicy"], "Never");
}

TEST(ObjectDefaultsTest, Deployment) {
  Json d = Json::parse(R"({"spec":{"selector":{"matchLabels":{"app":"w"}},
      "template":{"metadata":{"labels":{"app":"w"}},"spec":{"containers":[
        {"name":"n","image":"nginx","resources":{"limits":{"cpu":"1"}}}]}}}})");
  ApplyDefaults("apps", "Deployment", &d);
  EXPECT_EQ(d["spec"]["replicas"], 1);
  EXPECT_EQ(
      d["spec"]["strategy"],
      Json::parse(
          R"({"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"25%","maxSurge":"25%"}})"));
  EXPECT_EQ(d["spec"]["revisionHistoryLimit"], 10);
  EXPECT_EQ(d["spec"]["progressDeadlineSeconds"], 600);
  const Json& ps = d["spec"]["template"]["spec"];
  EXPECT_EQ(ps["restartPolicy"], "Always");
  EXPECT_EQ(ps["containers"][0]["imagePullPolicy"], "Always");
  // Templates do not get requests from limits (only SetDefaults_Pod does).
  EXPECT_FALSE(ps["containers"][0]["resources"].contains("requests"));

  Json recreate = Json::parse(R"({"spec":{"strategy":{"type":"Recreate"}}})");
  ApplyDefaults("apps", "Deployment", &recreate);
  EXPECT_EQ(recreate["spec"]["strategy"], Json::parse(R"({"type":"Recreate"})"));
}

TEST(ObjectDefaultsTest, OtherWorkloads) {
  Json rs =
      Json::parse(R"({"spec":{"template":{"spec":{"containers":[{"name":"a","image":"x:1"}]}}}})");
  ApplyDefaults("apps", "ReplicaSet", &rs);
  EXPECT_EQ(rs["spec"]["replicas"], 1);
  EXPECT_EQ(rs["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");

  Json sts = Json::parse(
      R"({"spec":{"template":{"spec":{"containers":[]}},"volumeClaimTemplates":[{"spec":{}}]}})");
  ApplyDefaults("apps", "StatefulSet", &sts);
  EXPECT_EQ(sts["spec"]["podManagementPolicy"], "OrderedReady");
  EXPECT_EQ(sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"], 0);
  EXPECT_EQ(sts["spec"]["revisionHistoryLimit"], 10);
  EXPECT_EQ(sts["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"], "Filesystem");
  EXPECT_EQ(sts["spec"]["volumeClaimTemplates"][0]["status"]["phase"], "Pending");

  Json ds = Json::parse(R"({"spec":{"template":{"spec":{}}}})");
  ApplyDefaults("apps", "DaemonSet", &ds);
  EXPECT_EQ(ds["spec"]["updateStrategy"]["type"], "RollingUpdate");
  EXPECT_EQ(ds["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"], 1);

  Json job =
      Json::parse(R"({"metadata":{"name":"j"},"spec":{"template":{"metadata":{"labels":{"a":"b"}},
      "spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"x"}]}}}})");
  ApplyDefaults("batch", "Job", &job);
  EXPECT_EQ(job["spec"]["completions"], 1);
  EXPECT_EQ(job["spec"]["parallelism"], 1);
  EXPECT_EQ(job["spec"]["backoffLimit"], 6);
  EXPECT_EQ(job["metadata"]["labels"], Json::parse(R"({"a":"b"})"));
  EXPECT_EQ(job["spec"]["template"]["spec"]["restartPolicy"], "Never");

  Json cj = Json::parse(R"({"spec":{"schedule":"* * * * *","jobTemplate":{"spec":{"template":{
      "spec":{"containers":[{"name":"c","image":"x"}]}}}}}})");
  ApplyDefaults("batch", "CronJob", &cj);
  EXPECT_EQ(cj["spec"]["concurrencyPolicy"], "Allow");
  EXPECT_EQ(cj["spec"]["suspend"], false);
  EXPECT_EQ(cj["spec"]["successfulJobsHistoryLimit"], 3);
  EXPECT_EQ(cj["spec"]["failedJobsHistoryLimit"], 1);
  EXPECT_EQ(cj["spec"]["jobTemplate"]["spec"]["backoffLimit"], 6);
  EXPECT_EQ(cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["schedulerName"],
            "default-scheduler");
}

TEST(ObjectDefaultsTest, ServiceSecretPvcNamespaceLimitRange) {
  Json svc = Json::parse(R"({"spec":{"ports":[{"port":80},{"port":443,"targetPort":8443}]}})");
  ApplyDefaults("", "Service", &svc);
  EXPECT_EQ(svc["spec"]["type"], "ClusterIP");
  EXPECT_EQ(svc["spec"]["sessionAffinity"], "None");
  EXPECT_EQ(svc["spec"]["ports"][0]["protocol"], "TCP");
  EXPECT_EQ(svc["spec"]["ports"][0]["targetPort"], 80);
  EXPECT_EQ(svc["spec"]["ports"][1]["targetPort"], 8443);
  EXPECT_FALSE(svc["spec"].contains("externalTrafficPolicy"));

  Json secret = Json::parse(R"({"data":{}})");
  ApplyDefaults("", "Secret", &secret);
  EXPECT_EQ(secret["type"], "Opaque");

  Json pvc = Json::parse(R"({"spec":{"accessModes":["ReadWriteOnce"]}})");
  ApplyDefaults("", "PersistentVolumeClaim", &pvc);
  EXPECT_EQ(pvc["spec"]["volumeMode"], "Filesystem");
  EXPECT_EQ(pvc["status"]["phase"], "Pending");

  Json ns = Json::parse(R"({"metadata":{"name":"n"}})");
  ApplyDefaults("", "Namespace", &ns);
  EXPECT_EQ(ns["status"]["phase"], "Active");

  Json lr = Json::parse(R"({"spec":{"limits":[
      {"type":"Container","max":{"cpu":"1"},"min":{"memory":"1Mi"}},
      {"type":"Pod","max":{"cpu":"2"}}]}})");
  ApplyDefaults("", "LimitRange", &lr);
  EXPECT_EQ(lr["spec"]["limits"][0]["default"], Json::parse(R"({"cpu":"1"})"));
  EXPECT_EQ(lr["spec"]["limits"][0]["defaultRequest"],
            Json::parse(R"({"cpu":"1","memory":"1Mi"})"));
  EXPECT_FALSE(lr["spec"]["limits"][1].contains("default"));
}

TEST(ObjectDefaultsTest, UnknownKindsAndMalformedInputUntouched) {
  Json cm = Json::parse(R"({"data":{"a":"b"}})");
  Json before = cm;
  ApplyDefaults("", "ConfigMap", &cm);
  EXPECT_EQ(cm, before);
  Json bad = Json::parse(R"({"spec":{"containers":{"name":"x"}}})");
  ApplyDefaults("", "Pod", &bad);  // must not throw
  EXPECT_EQ(bad["spec"]["containers"], Json::parse(R"({"name":"x"})"));
  Json odd = Json::parse(R"({"spec":{"type":5,"ports":[{"port":80}],
      "limits":[{"type":["Container"]}]}})");
  ApplyDefaults("", "Service", &odd);  // must not throw on a non-string type
  ApplyDefaults("", "LimitRange", &odd);
  EXPECT_EQ(odd["spec"]["type"], 5);
  Json weird = Json::parse(R"({"spec":"x"})");
  ApplyDefaults("apps", "Deployment", &weird);
  EXPECT_EQ(weird["spec"], "x");
}

Json PodWith(const std::string& containers) {
  return Json::parse(R"({"spec":{"containers":)" + containers + "}}");
}

TEST(PodQosClassTest, Classes) {
  EXPECT_EQ(PodQosClass(PodWith(R"([{"name":"a"}])")), "BestEffort");
  EXPECT_EQ(PodQosClass(PodWith(R"([{"name":"a","resources":{"requests":{"cpu":"0"}}}])")),
            "BestEffort");
  EXPECT_EQ(PodQosClass(PodWith(R"([{"name":"a","resources":{"requests":{"cpu":"100m"}}}])")),
            "Burstable");
  EXPECT_EQ(
      PodQosClass(PodWith(
          R"([{"name":"a","resources":{"limits":{"cpu":"1","memory":"1Gi"},"requests":{"cpu":"1000m","memory":"1024Mi"}}}])")),
      "Guaranteed");
  EXPECT_EQ(
      PodQosClass(PodWith(
          R"([{"name":"a","resources":{"limits":{"cpu":"1","memory":"1Gi"},"requests":{"cpu":"500m","memory":"1Gi"}}}])")),
      "Burstable");
  // Limits only (requests defaulted by ApplyDefaults first) is Guaranteed.
  Json pod =
      PodWith(R"([{"name":"a","image":"x","resources":{"limits":{"cpu":"1","memory":"1Gi"}}}])");
  ApplyDefaults("", "Pod", &pod);
  EXPECT_EQ(PodQosClass(pod), "Guaranteed");
  // One container without memory limit makes it Burstable.
  EXPECT_EQ(
      PodQosClass(PodWith(
          R"([{"name":"a","resources":{"limits":{"cpu":"1","memory":"1Gi"},"requests":{"cpu":"1","memory":"1Gi"}}},
                    {"name":"b","resources":{"limits":{"cpu":"1"},"requests":{"cpu":"1"}}}])")),
      "Burstable");
}

}  // namespace
}  // namespace capstan::kube
