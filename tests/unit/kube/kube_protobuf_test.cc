// Decoding of Kubernetes protobuf request bodies. The bodies are real: they
// were captured from kubectl 1.32 (which sends Content-Type
// application/vnd.kubernetes.protobuf for these commands) against a capture
// server, and are embedded as hex.
#include "kube-adapter/kube_protobuf.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace capstan::kube {
namespace {

// kubectl create namespace demo
const char kNamespace[] =
    "6b3873000a0f0a02763112094e616d657370616365121c0a140a0464656d6f12001a0022002a"
    "0032003800420012001a020a001a002200";
// kubectl create secret generic s1 --from-literal=user=admin --from-literal=pass=s3cr3t
const char kSecretGeneric[] =
    "6b3873000a0c0a027631120653656372657412350a120a02733112001a0022002a0032003800"
    "4200120e0a04706173731206733363723374120d0a0475736572120561646d696e1a001a0022"
    "00";
// kubectl create configmap c1 --from-literal=k1=v1 --from-literal=k2=v2
const char kConfigMap[] =
    "6b3873000a0f0a0276311209436f6e6669674d617012280a120a02633112001a0022002a0032"
    "003800420012080a026b311202763112080a026b32120276321a002200";
// kubectl create serviceaccount bot
const char kServiceAccount[] =
    "6b3873000a140a027631120e536572766963654163636f756e7412150a130a03626f7412001a"
    "0022002a003200380042001a002200";
// kubectl create secret docker-registry reg1 --docker-server=r.io --docker-username=u
// --docker-password=p
const char kSecretDockerRegistry[] =
    "6b3873000a0c0a0276311206536563726574128d010a140a047265673112001a0022002a0032"
    "003800420012550a112e646f636b6572636f6e6669676a736f6e12407b226175746873223a7b"
    "22722e696f223a7b22757365726e616d65223a2275222c2270617373776f7264223a2270222c"
    "2261757468223a2264547077227d7d7d1a1e6b756265726e657465732e696f2f646f636b6572"
    "636f6e6669676a736f6e1a002200";
// kubectl create role pod-reader --verb=get,list --resource=pods,deployments.apps --resource-name=a
const char kRole[] =
    "6b3873000a240a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f76311204"
    "526f6c6512570a1a0a0a706f642d72656164657212001a0022002a0032003800420012160a03"
    "6765740a046c69737412001a04706f647322016112210a036765740a046c6973741204617070"
    "731a0b6465706c6f796d656e74732201611a002200";
// kubectl create clusterrole cr1 --verb=get --resource=pods,deployments.apps
// --non-resource-url=/healthz
const char kClusterRole[] =
    "6b3873000a2b0a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f7631120b"
    "436c7573746572526f6c65124f0a130a0363723112001a0022002a00320038004200120d0a03"
    "67657412001a04706f647312180a036765741204617070731a0b6465706c6f796d656e747312"
    "0f0a036765742a082f6865616c74687a1a002200";
// kubectl create clusterrole agg --aggregation-rule=rbac.example.com/aggregate=true
const char kClusterRoleAggregation[] =
    "6b3873000a2b0a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f7631120b"
    "436c7573746572526f6c65123d0a130a0361676712001a0022002a003200380042001a260a24"
    "0a220a1a726261632e6578616d706c652e636f6d2f6167677265676174651204747275651a00"
    "2200";
// kubectl create rolebinding rb1 --role=pod-reader --user=alice --serviceaccount=default:bot
// --group=devs
const char kRoleBinding[] =
    "6b3873000a2b0a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f7631120b"
    "526f6c6542696e64696e6712be010a130a0372623112001a0022002a00320038004200122a0a"
    "04557365721219726261632e617574686f72697a6174696f6e2e6b38732e696f1a05616c6963"
    "652200122a0a0547726f75701219726261632e617574686f72697a6174696f6e2e6b38732e69"
    "6f1a0464657673220012200a0e536572766963654163636f756e7412001a03626f7422076465"
    "6661756c741a2d0a19726261632e617574686f72697a6174696f6e2e6b38732e696f1204526f"
    "6c651a0a706f642d7265616465721a002200";
// kubectl create clusterrolebinding crb1 --clusterrole=cr1 --user=bob
const char kClusterRoleBinding[] =
    "6b3873000a320a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f76311212"
    "436c7573746572526f6c6542696e64696e67126f0a140a046372623112001a0022002a003200"
    "3800420012280a04557365721219726261632e617574686f72697a6174696f6e2e6b38732e69"
    "6f1a03626f6222001a2d0a19726261632e617574686f72697a6174696f6e2e6b38732e696f12"
    "0b436c7573746572526f6c651a036372311a002200";
// kubectl create deployment web --image=nginx:1.25 --replicas=3 --port=80
const char kDeployment[] =
    "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412bd010a1f0a0377656212"
    "001a0022002a003200380042005a0a0a036170701203776562128b010803120c0a0a0a036170"
    "7012037765621a710a1c0a0012001a0022002a003200380042005a0a0a036170701203776562"
    "125112330a056e67696e78120a6e67696e783a312e32352a00320a0a001000185022002a0042"
    "006a007200800100880100900100a201001a00320042004a0052005800600068008201008a01"
    "009a0100c2010022020a00280038001a0c0800100018002000280038001a002200";
// kubectl create deployment multi --image=busybox --image=redis:7
const char kDeploymentTwoImages[] =
    "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412df010a230a056d756c74"
    "6912001a0022002a003200380042005a0c0a0361707012056d756c746912a9010801120e0a0c"
    "0a0361707012056d756c74691a8c010a1e0a0012001a0022002a003200380042005a0c0a0361"
    "707012056d756c7469126a12260a0762757379626f78120762757379626f782a0042006a0072"
    "00800100880100900100a2010012240a057265646973120772656469733a372a0042006a0072"
    "00800100880100900100a201001a00320042004a0052005800600068008201008a01009a0100"
    "c2010022020a00280038001a0c0800100018002000280038001a002200";
// kubectl create deployment one --image=busybox -- sleep 3600
const char kDeploymentCommand[] =
    "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412bd010a1f0a036f6e6512"
    "001a0022002a003200380042005a0a0a0361707012036f6e65128b010801120c0a0a0a036170"
    "7012036f6e651a710a1c0a0012001a0022002a003200380042005a0a0a0361707012036f6e65"
    "125112330a0762757379626f78120762757379626f781a05736c6565701a04333630302a0042"
    "006a007200800100880100900100a201001a00320042004a0052005800600068008201008a01"
    "009a0100c2010022020a00280038001a0c0800100018002000280038001a002200";
// kubectl create job j1 --image=busybox -- echo hi
const char kJob[] =
    "6b3873000a0f0a0862617463682f763112034a6f621284010a120a026a3112001a0022002a00"
    "320038004200126432620a100a0012001a0022002a00320038004200124e122b0a026a311207"
    "62757379626f781a046563686f1a0268692a0042006a007200800100880100900100a201001a"
    "054e65766572320042004a0052005800600068008201008a01009a0100c201001a0820002800"
    "30003a001a002200";
// kubectl create cronjob cj1 --image=busybox --schedule="*/5 * * * *" -- date
const char kCronJob[] =
    "6b3873000a130a0862617463682f7631120743726f6e4a6f6212a7010a130a03636a3112001a"
    "0022002a00320038004200128d010a0b2a2f35202a202a202a202a1a002a7c0a130a03636a31"
    "12001a0022002a00320038004200126532630a100a0012001a0022002a00320038004200124f"
    "12280a03636a31120762757379626f781a04646174652a0042006a0072008001008801009001"
    "00a201001a094f6e4661696c757265320042004a0052005800600068008201008a01009a0100"
    "c201001a001a002200";
// kubectl create service clusterip svc1 --tcp=80:8080
const char kServiceClusterIP[] =
    "6b3873000a0d0a027631120753657276696365126c0a210a047376633112001a0022002a0032"
    "00380042005a0b0a0361707012047376633112430a1b0a0738302d3830383012035443501850"
    "2207080010903f1a002800120b0a036170701204737663311a002209436c757374657249503a"
    "00420052005a00600068001a020a001a002200";
// kubectl create service nodeport np1 --tcp=443:8443 --node-port=30443
const char kServiceNodePort[] =
    "6b3873000a0d0a027631120753657276696365126c0a1f0a036e703112001a0022002a003200"
    "380042005a0a0a0361707012036e703112450a1f0a083434332d38343433120354435018bb03"
    "2207080010fb411a0028ebed01120a0a0361707012036e70311a0022084e6f6465506f72743a"
    "00420052005a00600068001a020a001a002200";
// kubectl create service loadbalancer lb1 --tcp=5678:8080
const char kServiceLoadBalancer[] =
    "6b3873000a0d0a027631120753657276696365126f0a1f0a036c623112001a0022002a003200"
    "380042005a0a0a0361707012036c623112480a1e0a09353637382d38303830120354435018ae"
    "2c2207080010903f1a002800120a0a0361707012036c62311a00220c4c6f616442616c616e63"
    "65723a00420052005a00600068001a020a001a002200";
// kubectl create service externalname ext1 --external-name=example.com
const char kServiceExternalName[] =
    "6b3873000a0d0a027631120753657276696365125d0a210a046578743112001a0022002a0032"
    "00380042005a0b0a036170701204657874311234120b0a036170701204657874311a00220c45"
    "787465726e616c4e616d653a004200520b6578616d706c652e636f6d5a00600068001a020a00"
    "1a002200";
// kubectl create quota q1 --hard=cpu=2,memory=1Gi,pods=10 --scopes=BestEffort
const char kQuota[] =
    "6b3873000a130a027631120d5265736f7572636551756f7461124f0a120a02713112001a0022"
    "002a0032003800420012370a0a0a0363707512030a01320a0f0a066d656d6f727912050a0331"
    "47690a0c0a04706f647312040a023130120a426573744566666f72741a001a002200";
// kubectl create priorityclass high --value=1000 --global-default=false --description="high prio"
// --preemption-policy=Never
const char kPriorityClass[] =
    "6b3873000a250a147363686564756c696e672e6b38732e696f2f7631120d5072696f72697479"
    "436c617373122d0a140a046869676812001a0022002a0032003800420010e807180022096869"
    "6768207072696f2a054e657665721a002200";
// kubectl create pdb pdb1 --selector=app=web --min-available=2
const char kPdbMinAvailable[] =
    "6b3873000a200a09706f6c6963792f76311213506f6444697372757074696f6e427564676574"
    "123a0a140a047064623112001a0022002a0032003800420012160a06080010021a00120c0a0a"
    "0a0361707012037765621a0a080018002000280030001a002200";
// kubectl create pdb pdb2 --selector=app=web --max-unavailable=50%
const char kPdbMaxUnavailable[] =
    "6b3873000a200a09706f6c6963792f76311213506f6444697372757074696f6e427564676574"
    "123d0a140a047064623212001a0022002a003200380042001219120c0a0a0a03617070120377"
    "65621a09080110001a033530251a0a080018002000280030001a002200";
// kubectl create ingress ing1 --class=nginx --rule="foo.com/bar=svc1:8080,tls=my-cert"
// --annotation=a=b
const char kIngress[] =
    "6b3873000a1f0a146e6574776f726b696e672e6b38732e696f2f76311207496e677265737312"
    "6e0a1c0a04696e673112001a0022002a0032003800420062060a0161120162124a12120a0766"
    "6f6f2e636f6d12076d792d636572741a2d0a07666f6f2e636f6d12220a200a1e0a042f626172"
    "120f220d0a047376633112050a0010903f1a05457861637422056e67696e781a020a001a0022"
    "00";
// kubectl create ingress ing2 --rule="/path*=svc2:http" --default-backend=defsvc:80
const char kIngressDefaultBackend[] =
    "6b3873000a1f0a146e6574776f726b696e672e6b38732e696f2f76311207496e677265737312"
    "5b0a140a04696e673212001a0022002a00320038004200123f0a10220e0a0664656673766312"
    "040a0010501a2b0a0012270a250a230a052f70617468121222100a047376633212080a046874"
    "747010001a065072656669781a020a001a002200";
// kubectl create token bot --duration=1h --audience=api
const char kTokenRequest[] =
    "6b3873000a280a1861757468656e7469636174696f6e2e6b38732e696f2f7631120c546f6b65"
    "6e5265717565737412220a100a0012001a0022002a0032003800420012080a0361706920901c"
    "1a040a0012001a002200";
// kubectl auth can-i list pods
const char kSelfSubjectAccessReview[] =
    "6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f7631121753656c6653"
    "75626a656374416363657373526576696577123d0a100a0012001a0022002a00320038004200"
    "121f0a1d0a0764656661756c7412046c6973741a0022002a04706f647332003a001a08080012"
    "001a0020001a002200";
// kubectl auth whoami
const char kSelfSubjectReview[] =
    "6b3873000a2d0a1861757468656e7469636174696f6e2e6b38732e696f2f7631121153656c66"
    "5375626a656374526576696577121a0a100a0012001a0022002a0032003800420012060a040a"
    "0012001a002200";

std::string Unhex(const char* hex) {
  std::string out;
  for (size_t i = 0; hex[i] != '\0' && hex[i + 1] != '\0'; i += 2) {
    out += static_cast<char>(std::stoi(std::string(hex + i, 2), nullptr, 16));
  }
  return out;
}

Json Decode(const char* hex) {
  Json out;
  auto err = DecodeKubeProtobuf(Unhex(hex), &out);
  EXPECT_FALSE(err.has_value()) << (err ? err->message : "");
  return out;
}

// A minimal protobuf writer for synthetic bodies.
std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
  return out;
}
std::string Tag(int field, int wire_type) { return Varint((field << 3) | wire_type); }
std::string Len(int field, const std::string& bytes) {
  return Tag(field, 2) + Varint(bytes.size()) + bytes;
}
std::string Int(int field, uint64_t v) { return Tag(field, 0) + Varint(v); }
std::string Envelope(const std::string& api_version, const std::string& kind,
                     const std::string& raw) {
  return std::string("k8s\0", 4) + Len(1, Len(1, api_version) + Len(2, kind)) + Len(2, raw);
}

TEST(KubeProtobufTest, IsKubeProtobuf) {
  EXPECT_TRUE(IsKubeProtobuf("application/vnd.kubernetes.protobuf"));
  EXPECT_TRUE(IsKubeProtobuf("Application/VND.Kubernetes.Protobuf; charset=utf-8"));
  EXPECT_FALSE(IsKubeProtobuf("application/vnd.kubernetes.protobuf;stream=watch"));
  EXPECT_FALSE(IsKubeProtobuf("application/json"));
  EXPECT_FALSE(IsKubeProtobuf("application/vnd.kubernetes.protobuf.x"));
  EXPECT_FALSE(IsKubeProtobuf(""));
}

TEST(KubeProtobufTest, Namespace) {
  Json j = Decode(kNamespace);
  EXPECT_EQ(j.dump(), R"({"kind":"Namespace","apiVersion":"v1","metadata":{"name":"demo",)"
                      R"("creationTimestamp":null},"spec":{},"status":{}})");
}

TEST(KubeProtobufTest, Secrets) {
  Json j = Decode(kSecretGeneric);
  EXPECT_EQ(j["kind"], "Secret");
  EXPECT_EQ(j["metadata"]["name"], "s1");
  EXPECT_EQ(j["data"], (Json{{"pass", "czNjcjN0"}, {"user", "YWRtaW4="}}));  // base64
  EXPECT_FALSE(j.contains("type"));

  j = Decode(kSecretDockerRegistry);
  EXPECT_EQ(j["type"], "kubernetes.io/dockerconfigjson");
  EXPECT_EQ(j["data"][".dockerconfigjson"],
            "eyJhdXRocyI6eyJyLmlvIjp7InVzZXJuYW1lIjoidSIsInBhc3N3b3JkIjoicCIsImF1dGgiOiJkVHB3In19fQ"
            "==");
}

TEST(KubeProtobufTest, ConfigMapAndServiceAccount) {
  EXPECT_EQ(Decode(kConfigMap).dump(),
            R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"c1",)"
            R"("creationTimestamp":null},"data":{"k1":"v1","k2":"v2"}})");
  EXPECT_EQ(Decode(kServiceAccount).dump(),
            R"({"kind":"ServiceAccount","apiVersion":"v1","metadata":{"name":"bot",)"
            R"("creationTimestamp":null}})");
}

TEST(KubeProtobufTest, Rbac) {
  Json role = Decode(kRole);
  EXPECT_EQ(role["apiVersion"], "rbac.authorization.k8s.io/v1");
  EXPECT_EQ(role["metadata"]["name"], "pod-reader");
  EXPECT_EQ(role["rules"].dump(),
            R"([{"verbs":["get","list"],"apiGroups":[""],"resources":["pods"],)"
            R"("resourceNames":["a"]},{"verbs":["get","list"],"apiGroups":["apps"],)"
            R"("resources":["deployments"],"resourceNames":["a"]}])");

  Json cr = Decode(kClusterRole);
  EXPECT_EQ(cr["kind"], "ClusterRole");
  ASSERT_EQ(cr["rules"].size(), 3u);
  EXPECT_EQ(cr["rules"][2].dump(), R"({"verbs":["get"],"nonResourceURLs":["/healthz"]})");

  Json agg = Decode(kClusterRoleAggregation);
  EXPECT_EQ(agg["aggregationRule"].dump(),
            R"({"clusterRoleSelectors":[{"matchLabels":{"rbac.example.com/aggregate":"true"}}]})");
  EXPECT_FALSE(agg.contains("rules"));

  Json rb = Decode(kRoleBinding);
  EXPECT_EQ(rb["subjects"].dump(),
            R"([{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"alice"},)"
            R"({"kind":"Group","apiGroup":"rbac.authorization.k8s.io","name":"devs"},)"
            R"({"kind":"ServiceAccount","name":"bot","namespace":"default"}])");
  EXPECT_EQ(rb["roleRef"].dump(),
            R"({"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"pod-reader"})");

  Json crb = Decode(kClusterRoleBinding);
  EXPECT_EQ(crb["kind"], "ClusterRoleBinding");
  EXPECT_EQ(crb["subjects"][0]["name"], "bob");
  EXPECT_EQ(crb["roleRef"]["kind"], "ClusterRole");
  EXPECT_EQ(crb["roleRef"]["name"], "cr1");
}

TEST(KubeProtobufTest, Deployment) {
  // Identical to `kubectl create deployment ... --dry-run=client -o json`.
  EXPECT_EQ(Decode(kDeployment).dump(),
            R"({"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"web",)"
            R"("creationTimestamp":null,"labels":{"app":"web"}},"spec":{"replicas":3,)"
            R"("selector":{"matchLabels":{"app":"web"}},"template":{"metadata":)"
            R"({"creationTimestamp":null,"labels":{"app":"web"}},"spec":{"containers":)"
            R"([{"name":"nginx","image":"nginx:1.25","ports":[{"containerPort":80}],)"
            R"("resources":{}}]}},"strategy":{}},"status":{}})");

  Json two = Decode(kDeploymentTwoImages);
  EXPECT_EQ(two["spec"]["replicas"], 1);
  const Json& containers = two["spec"]["template"]["spec"]["containers"];
  ASSERT_EQ(containers.size(), 2u);
  EXPECT_EQ(containers[0]["image"], "busybox");
  EXPECT_EQ(containers[1]["name"], "redis");
  EXPECT_EQ(containers[1]["image"], "redis:7");

  Json cmd = Decode(kDeploymentCommand);
  EXPECT_EQ(cmd["spec"]["template"]["spec"]["containers"][0]["command"], (Json{"sleep", "3600"}));
}

TEST(KubeProtobufTest, JobAndCronJob) {
  Json job = Decode(kJob);
  EXPECT_EQ(job["apiVersion"], "batch/v1");
  const Json& pod = job["spec"]["template"]["spec"];
  EXPECT_EQ(pod["restartPolicy"], "Never");
  EXPECT_EQ(pod["containers"][0]["command"], (Json{"echo", "hi"}));
  EXPECT_EQ(pod["containers"][0]["image"], "busybox");

  Json cj = Decode(kCronJob);
  EXPECT_EQ(cj["kind"], "CronJob");
  EXPECT_EQ(cj["spec"]["schedule"], "*/5 * * * *");
  EXPECT_EQ(cj["spec"]["jobTemplate"]["metadata"]["name"], "cj1");
  const Json& cpod = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"];
  EXPECT_EQ(cpod["restartPolicy"], "OnFailure");
  EXPECT_EQ(cpod["containers"][0]["command"], (Json{"date"}));
}

TEST(KubeProtobufTest, Services) {
  Json np = Decode(kServiceNodePort);
  EXPECT_EQ(np["spec"].dump(),
            R"({"ports":[{"name":"443-8443","protocol":"TCP","port":443,"targetPort":8443,)"
            R"("nodePort":30443}],"selector":{"app":"np1"},"type":"NodePort"})");
  EXPECT_EQ(np["metadata"]["labels"]["app"], "np1");

  Json cip = Decode(kServiceClusterIP);
  EXPECT_EQ(cip["spec"]["type"], "ClusterIP");
  EXPECT_EQ(cip["spec"]["ports"][0]["port"], 80);
  EXPECT_EQ(cip["spec"]["ports"][0]["targetPort"], 8080);
  EXPECT_FALSE(cip["spec"]["ports"][0].contains("nodePort"));

  Json lb = Decode(kServiceLoadBalancer);
  EXPECT_EQ(lb["spec"]["type"], "LoadBalancer");
  EXPECT_EQ(lb["spec"]["ports"][0]["port"], 5678);

  Json ext = Decode(kServiceExternalName);
  EXPECT_EQ(ext["spec"]["type"], "ExternalName");
  EXPECT_EQ(ext["spec"]["externalName"], "example.com");
  EXPECT_FALSE(ext["spec"].contains("ports"));
}

TEST(KubeProtobufTest, QuotaPriorityClassPdb) {
  Json q = Decode(kQuota);
  EXPECT_EQ(q["spec"].dump(),
            R"({"hard":{"cpu":"2","memory":"1Gi","pods":"10"},"scopes":["BestEffort"]})");

  EXPECT_EQ(Decode(kPriorityClass).dump(),
            R"({"kind":"PriorityClass","apiVersion":"scheduling.k8s.io/v1","metadata":)"
            R"({"name":"high","creationTimestamp":null},"value":1000,"description":"high prio",)"
            R"("preemptionPolicy":"Never"})");

  Json pdb = Decode(kPdbMinAvailable);
  EXPECT_EQ(pdb["spec"].dump(), R"({"minAvailable":2,"selector":{"matchLabels":{"app":"web"}}})");
  Json pdb2 = Decode(kPdbMaxUnavailable);
  EXPECT_EQ(pdb2["spec"]["maxUnavailable"], "50%");  // IntOrString as a string
  EXPECT_FALSE(pdb2["spec"].contains("minAvailable"));
}

TEST(KubeProtobufTest, Ingress) {
  Json ing = Decode(kIngress);
  EXPECT_EQ(ing["metadata"]["annotations"]["a"], "b");
  EXPECT_EQ(ing["spec"].dump(),
            R"({"ingressClassName":"nginx","tls":[{"hosts":["foo.com"],"secretName":"my-cert"}],)"
            R"("rules":[{"host":"foo.com","http":{"paths":[{"path":"/bar","pathType":"Exact",)"
            R"("backend":{"service":{"name":"svc1","port":{"number":8080}}}}]}}]})");

  Json ing2 = Decode(kIngressDefaultBackend);
  EXPECT_EQ(ing2["spec"]["defaultBackend"]["service"].dump(),
            R"({"name":"defsvc","port":{"number":80}})");
  const Json& path = ing2["spec"]["rules"][0]["http"]["paths"][0];
  EXPECT_EQ(path["pathType"], "Prefix");
  EXPECT_EQ(path["backend"]["service"]["port"].dump(), R"({"name":"http"})");
}

TEST(KubeProtobufTest, AuthRequests) {
  Json tr = Decode(kTokenRequest);
  EXPECT_EQ(tr["kind"], "TokenRequest");
  EXPECT_EQ(tr["spec"].dump(), R"({"audiences":["api"],"expirationSeconds":3600})");

  Json ssar = Decode(kSelfSubjectAccessReview);
  EXPECT_EQ(ssar["apiVersion"], "authorization.k8s.io/v1");
  EXPECT_EQ(ssar["spec"].dump(),
            R"({"resourceAttributes":{"namespace":"default","verb":"list","resource":"pods"}})");

  Json ssr = Decode(kSelfSubjectReview);
  EXPECT_EQ(ssr["kind"], "SelfSubjectReview");
  EXPECT_EQ(ssr["apiVersion"], "authentication.k8s.io/v1");
}

TEST(KubeProtobufTest, SyntheticSpecialTypes) {
  // A Pod with a creationTimestamp, a negative int32, an IntOrString probe
  // port, an inline volume source, resources and a packed repeated field
  // unknown to the schema (skipped).
  std::string meta = Len(1, "p") + Len(8, Int(1, 1700000000)) + Len(11, Len(1, "a") + Len(2, "b")) +
                     Len(99, "unknown");
  std::string resources = Len(1, Len(1, "cpu") + Len(2, Len(1, "500m"))) +
                          Len(2, Len(1, "memory") + Len(2, Len(1, "64Mi")));
  std::string probe = Len(1, Len(3, Len(1, Int(1, 0) + Int(2, 8080)))) + Int(2, 5);
  std::string http_probe = Len(1, Len(2, Len(1, "/healthz") + Len(2, Int(1, 1) + Len(3, "http"))));
  std::string container = Len(1, "c") + Len(2, "img") + Len(8, resources) + Len(10, probe) +
                          Len(11, http_probe) + Len(7, Len(1, "A") + Len(2, "B")) +
                          Len(6, Int(3, 80) + Len(4, "TCP"));
  std::string volume = Len(1, "v") + Len(2, Len(2, ""));  // emptyDir: {}
  std::string spec =
      Len(1, volume) + Len(2, container) + Int(4, 0) + Int(25, uint64_t(-7)) + Len(3, "Always");
  Json pod;
  auto err = DecodeKubeProtobuf(Envelope("v1", "Pod", Len(1, meta) + Len(2, spec)), &pod);
  ASSERT_FALSE(err) << err->message;
  EXPECT_EQ(pod["metadata"].dump(),
            R"({"name":"p","creationTimestamp":"2023-11-14T22:13:20Z","labels":{"a":"b"}})");
  EXPECT_EQ(pod["spec"]["volumes"].dump(), R"([{"name":"v","emptyDir":{}}])");
  EXPECT_EQ(pod["spec"]["terminationGracePeriodSeconds"], 0);  // pointer: kept
  EXPECT_EQ(pod["spec"]["priority"], -7);
  EXPECT_EQ(pod["spec"]["restartPolicy"], "Always");
  const Json& c = pod["spec"]["containers"][0];
  EXPECT_EQ(c["resources"].dump(), R"({"limits":{"cpu":"500m"},"requests":{"memory":"64Mi"}})");
  EXPECT_EQ(c["livenessProbe"].dump(), R"({"tcpSocket":{"port":8080},"initialDelaySeconds":5})");
  EXPECT_EQ(c["readinessProbe"].dump(), R"({"httpGet":{"path":"/healthz","port":"http"}})");
  EXPECT_EQ(c["env"].dump(), R"([{"name":"A","value":"B"}])");
  EXPECT_EQ(c["ports"].dump(), R"([{"containerPort":80,"protocol":"TCP"}])");

  // batch/v1beta1 CronJob (kubectl 1.32 sends batch/v1, older ones v1beta1).
  std::string job_spec = Int(1, 2) + Len(6, Len(2, Len(2, container)));
  std::string cj_spec = Len(1, "@daily") + Len(5, Len(2, job_spec)) + Int(6, 3);
  Json cj;
  ASSERT_FALSE(DecodeKubeProtobuf(Envelope("batch/v1beta1", "CronJob", Len(2, cj_spec)), &cj));
  EXPECT_EQ(cj["spec"]["schedule"], "@daily");
  EXPECT_EQ(cj["spec"]["successfulJobsHistoryLimit"], 3);
  EXPECT_EQ(cj["spec"]["jobTemplate"]["spec"]["parallelism"], 2);
  EXPECT_EQ(cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["name"], "c");
}

TEST(KubeProtobufTest, DeepNestingIsBoundedAndNeverRecursesUnboundedly) {
  // 100k levels of nested length-delimited data in an unknown field: skipped
  // as bytes, without descending into it.
  std::vector<std::string> prefixes;  // outermost last
  size_t inner = 1;                   // "x"
  for (int i = 0; i < 100000; ++i) {
    prefixes.push_back(Tag(1, 2) + Varint(inner));
    inner += prefixes.back().size();
  }
  std::string nested;
  nested.reserve(inner);
  for (auto it = prefixes.rbegin(); it != prefixes.rend(); ++it) nested += *it;
  nested += "x";
  Json cm;
  auto err = DecodeKubeProtobuf(
      Envelope("v1", "ConfigMap", Len(1, Len(1, "deep") + Len(99, nested))), &cm);
  ASSERT_FALSE(err) << err->message;
  EXPECT_EQ(cm["metadata"].dump(), R"({"name":"deep"})");
  // Known fields nest only as deep as the Kubernetes types do (the schema
  // has no cycles); repeating a message field merges, it does not nest. So
  // the decoded JSON of any body is at most a dozen levels deep.
  std::string meta = Len(1, "m");
  std::string merged;
  for (int i = 0; i < 10000; ++i) merged += Len(1, meta);
  Json ns;
  err = DecodeKubeProtobuf(Envelope("v1", "Namespace", merged), &ns);
  ASSERT_FALSE(err) << err->message;
  EXPECT_EQ(ns["metadata"].dump(), R"({"name":"m"})");
  // Groups (wire types 3 and 4), which could nest without lengths, are refused.
  std::string group = Tag(99, 3) + Tag(1, 0) + Varint(1) + Tag(99, 4);
  err = DecodeKubeProtobuf(Envelope("v1", "ConfigMap", Len(1, Len(1, "g") + group)), &cm);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 400);
}

TEST(KubeProtobufTest, Errors) {
  Json out = "untouched";
  auto err = DecodeKubeProtobuf("{\"kind\":\"Pod\"}", &out);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 400);
  EXPECT_EQ(out, "untouched");

  // Truncated captured body.
  std::string body = Unhex(kDeployment);
  err = DecodeKubeProtobuf(body.substr(0, body.size() - 20), &out);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 400);
  EXPECT_EQ(out, "untouched");

  // Missing type metadata.
  err = DecodeKubeProtobuf(std::string("k8s\0", 4) + Len(2, ""), &out);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 400);

  // Invalid UTF-8 in a string field.
  err = DecodeKubeProtobuf(Envelope("v1", "Namespace", Len(1, Len(1, "\xff"))), &out);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 400);

  // A kind the decoder does not know: 415 Unsupported Media Type.
  err = DecodeKubeProtobuf(Envelope("v1", "Node", ""), &out);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 415);
  EXPECT_NE(err->message.find("Node"), std::string::npos);

  // A known field the decoder does not cover (PodSpec.affinity = 18) is
  // refused rather than silently dropped.
  err = DecodeKubeProtobuf(Envelope("v1", "Pod", Len(2, Len(18, ""))), &out);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 415);
  EXPECT_NE(err->message.find("affinity"), std::string::npos);
  EXPECT_EQ(out, "untouched");
}

// Every prefix and every single-byte corruption of every capture decodes or
// fails cleanly (run under ASan/UBSan to make this meaningful).
TEST(KubeProtobufTest, TruncatedAndCorruptedCapturesFailCleanly) {
  const char* captures[] = {kNamespace,
                            kSecretGeneric,
                            kConfigMap,
                            kServiceAccount,
                            kSecretDockerRegistry,
                            kRole,
                            kClusterRole,
                            kClusterRoleAggregation,
                            kRoleBinding,
                            kClusterRoleBinding,
                            kDeployment,
                            kDeploymentTwoImages,
                            kDeploymentCommand,
                            kJob,
                            kCronJob,
                            kServiceClusterIP,
                            kServiceNodePort,
                            kServiceLoadBalancer,
                            kServiceExternalName,
                            kQuota,
                            kPriorityClass,
                            kPdbMinAvailable,
                            kPdbMaxUnavailable,
                            kIngress,
                            kIngressDefaultBackend,
                            kTokenRequest,
                            kSelfSubjectAccessReview,
                            kSelfSubjectReview};
  for (const char* hex : captures) {
    const std::string body = Unhex(hex);
    Json out;
    ASSERT_FALSE(DecodeKubeProtobuf(body, &out));
    for (size_t n = 0; n < body.size(); ++n) {
      Json partial;
      auto err = DecodeKubeProtobuf(body.substr(0, n), &partial);
      if (err) {
        EXPECT_EQ(err->code, 400) << n;
      }
    }
    for (size_t i = 4; i < body.size(); ++i) {
      for (int x : {0x01, 0x80, 0xff}) {
        std::string corrupt = body;
        corrupt[i] = static_cast<char>(corrupt[i] ^ x);
        Json j;
        auto err = DecodeKubeProtobuf(corrupt, &j);
        if (!err) {
          (void)j.dump();  // must be valid JSON (UTF-8 checked)
        }
      }
    }
  }
}

}  // namespace
}  // namespace capstan::kube
