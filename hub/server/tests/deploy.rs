//! `deploy/`: the files an operator runs the hub with. No image can be built or pulled on the
//! project's machines, so these tests read the files: every YAML file parses, the compose file
//! runs two hub nodes on PostgreSQL and Redis behind nginx with readiness checks, the proxy
//! keeps WebSockets open past the hub's ping, the image and the unit run unprivileged, and the
//! Kubernetes manifests probe, drain, scale, migrate and take their secrets as they should.

use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(deploy().join(name))
        .unwrap_or_else(|err| panic!("deploy/{name}: {err}"))
}

/// Every document of the YAML file `name` (a path under deploy/).
fn documents(name: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(&read(name))
        .unwrap_or_else(|err| panic!("deploy/{name} is not YAML: {err}"))
}

fn yaml(name: &str) -> Yaml {
    let mut documents = documents(name);
    assert_eq!(documents.len(), 1, "deploy/{name}: one document");
    documents.remove(0)
}

/// The YAML files under `dir` (a path under deploy/, "" for deploy/ itself), recursively, as
/// paths under deploy/.
fn yaml_files(dir: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(deploy().join(dir)).expect("the folder exists") {
        let entry = entry.expect("an entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if dir.is_empty() {
            name.clone()
        } else {
            format!("{dir}/{name}")
        };
        if entry.file_type().expect("a file type").is_dir() {
            found.extend(yaml_files(&path));
        } else if name.ends_with(".yml") || name.ends_with(".yaml") {
            found.push(path);
        }
    }
    found.sort();
    found
}

#[test]
fn every_yaml_file_in_deploy_parses() {
    let files = yaml_files("");
    for file in &files {
        // The compose file is one document; manifests may hold several.
        assert!(
            !documents(file).is_empty(),
            "deploy/{file} holds a document"
        );
    }
    assert!(files.iter().any(|file| file == "docker-compose.yml"));
    assert!(
        files.iter().any(|file| file.starts_with("kubernetes/")),
        "the Kubernetes manifests are found: {files:?}"
    );
}

/// The hub's own readiness route, as every health check must name it.
const READY: &str = "/readyz";

#[test]
fn the_compose_file_runs_two_nodes_behind_nginx_with_readiness_checks() {
    let compose = yaml("docker-compose.yml");
    let services = &compose["services"];
    for name in ["hub-1", "hub-2", "nginx", "postgres", "redis"] {
        assert!(!services[name].is_badvalue(), "service {name}");
    }
    // Both nodes are the shared hub definition (`<<: *hub`): one image, one configuration.
    let hub = &compose["x-hub"];
    for node in ["hub-1", "hub-2"] {
        assert_eq!(&services[node]["<<"], hub, "{node} is the shared hub");
    }
    let environment = &hub["environment"];
    let database = environment["SWITCHBOARD_DATABASE_URL"]
        .as_str()
        .expect("a database");
    assert!(database.starts_with("postgres://") && database.contains("@postgres:"));
    assert_eq!(
        environment["SWITCHBOARD_REDIS_URL"].as_str(),
        Some("redis://redis:6379")
    );
    // Attachments on a volume every node mounts: a file received on one is served by all.
    let attachments = environment["SWITCHBOARD_ATTACHMENTS_DIR"]
        .as_str()
        .expect("shared files");
    let volumes = hub["volumes"].as_vec().expect("volumes");
    assert!(
        volumes.iter().any(|volume| volume
            .as_str()
            .is_some_and(|v| v.ends_with(&format!(":{attachments}")))),
        "{volumes:?}"
    );
    let check = hub["healthcheck"]["test"].as_vec().expect("a health check");
    assert!(
        check
            .iter()
            .any(|part| part.as_str().is_some_and(|p| p.contains(READY)))
    );
    // Nothing starts before what it needs is healthy.
    for (service, needs) in [("nginx", "hub-1"), ("nginx", "hub-2"), ("hub-2", "hub-1")] {
        assert_eq!(
            services[service]["depends_on"][needs]["condition"].as_str(),
            Some("service_healthy"),
            "{service} waits for {needs}"
        );
    }
    for store in ["postgres", "redis"] {
        assert_eq!(
            hub["depends_on"][store]["condition"].as_str(),
            Some("service_healthy")
        );
        assert!(
            !services[store]["healthcheck"].is_badvalue(),
            "{store} is checked"
        );
    }
    // No secret in the file: they come from deploy/.env (env.example lists them).
    assert!(!read("docker-compose.yml").contains("change-me"));
    let example = read("env.example");
    for secret in ["POSTGRES_PASSWORD", "SWITCHBOARD_ADMIN_PASSWORD"] {
        assert!(
            example.contains(&format!("{secret}=")),
            "env.example names {secret}"
        );
    }
}

/// The seconds of a directive such as `proxy_read_timeout 120s;` in `block`.
fn seconds(block: &str, directive: &str) -> Option<u64> {
    block.lines().find_map(|line| {
        let value = line.trim().strip_prefix(directive)?.trim();
        value
            .trim_end_matches(';')
            .trim_end_matches('s')
            .parse()
            .ok()
    })
}

#[test]
fn nginx_upgrades_websockets_and_outwaits_the_hubs_ping() {
    let conf = read("nginx.conf");
    for node in ["hub-1:8080", "hub-2:8080"] {
        assert!(conf.contains(&format!("server {node}")), "upstream {node}");
    }
    let chat = conf
        .split("location /chat/ws")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .expect("a location for the widget's WebSocket");
    assert!(chat.contains("proxy_set_header Upgrade $http_upgrade"));
    assert!(chat.contains("proxy_set_header Connection $connection_upgrade"));
    assert!(chat.contains("proxy_http_version 1.1"));
    let ping = switchboard::Settings::default().webchat_ping_secs;
    let idle = seconds(chat, "proxy_read_timeout").expect("an idle timeout");
    assert!(
        idle > ping * 2,
        "idle timeout {idle} s against a ping every {ping} s"
    );
    let events = conf
        .split("location /api/v1/events")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .expect("a location for the inbox's event stream");
    assert!(events.contains("proxy_buffering off"));
    let keepalive = switchboard::Settings::default().events_keepalive_secs;
    assert!(seconds(events, "proxy_read_timeout").expect("a timeout") > keepalive * 2);
}

#[test]
fn the_image_and_the_unit_run_the_hub_unprivileged_with_checks() {
    let dockerfile = read("Dockerfile");
    let stages: Vec<&str> = dockerfile
        .lines()
        .filter(|line| line.starts_with("FROM "))
        .collect();
    assert_eq!(stages.len(), 2, "build and run stages: {stages:?}");
    assert!(stages[0].ends_with(" AS build"));
    assert!(dockerfile.contains("cargo build --release --locked -p switchboard"));
    assert!(
        dockerfile
            .lines()
            .any(|line| line.starts_with("USER ") && !line.contains("root"))
    );
    assert!(dockerfile.contains(&format!("http://127.0.0.1:8080{READY}")));

    let unit = read("switchboard.service");
    for line in [
        "ExecStart=/usr/local/bin/switchboard serve",
        "User=switchboard",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        // The background lane's rescue from the idle class goes down to nice 0
        // (hub/server/src/background.rs): an RLIMIT_NICE of 20.
        "LimitNICE=20",
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit has {line}");
    }
    // systemd kills what is still running when this runs out: never before the hub's own
    // longest graceful stop.
    let timeout: u64 = unit
        .lines()
        .find_map(|line| line.strip_prefix("TimeoutStopSec="))
        .and_then(|seconds| seconds.parse().ok())
        .expect("a stop timeout");
    let stop = switchboard::longest_graceful_stop(&switchboard::Settings::default()).as_secs();
    assert!(
        timeout > stop,
        "TimeoutStopSec={timeout} cuts off a stop of up to {stop} s"
    );
    let files: u64 = unit
        .lines()
        .find_map(|line| line.strip_prefix("LimitNOFILE="))
        .and_then(|n| n.parse().ok())
        .expect("a file limit");
    assert!(
        files > 10_000,
        "10,000 visitors need more than {files} descriptors"
    );
}

/// Every object of the Kubernetes manifests (deploy/kubernetes/), with the file it is in.
fn manifests() -> Vec<(String, Yaml)> {
    yaml_files("kubernetes")
        .into_iter()
        .flat_map(|file| {
            documents(&file)
                .into_iter()
                .filter(|document| !document["kind"].is_badvalue())
                .map(move |document| (file.clone(), document))
        })
        .collect()
}

/// The one object of `kind` in the manifests.
fn one(objects: &[(String, Yaml)], kind: &str) -> Yaml {
    let found: Vec<&Yaml> = objects
        .iter()
        .map(|(_, object)| object)
        .filter(|object| object["kind"].as_str() == Some(kind))
        .collect();
    assert_eq!(found.len(), 1, "one {kind} in deploy/kubernetes/");
    found[0].clone()
}

fn name(object: &Yaml) -> &str {
    object["metadata"]["name"].as_str().expect("a name")
}

/// Whether every label of `selector` is on `labels` with the same value.
fn selects(selector: &Yaml, labels: &Yaml) -> bool {
    let selector = selector.as_hash().expect("a selector");
    !selector.is_empty()
        && selector
            .iter()
            .all(|(key, value)| key.as_str().is_some_and(|key| &labels[key] == value))
}

/// The container's environment variable `name`.
fn env<'a>(container: &'a Yaml, name: &str) -> &'a Yaml {
    container["env"]
        .as_vec()
        .expect("an environment")
        .iter()
        .find(|var| var["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("{name} is set"))
}

/// Checks that `container` takes each of `names` from a key of `secret` (not inline).
fn takes_from_secret(container: &Yaml, secret: &Yaml, names: &[&str]) {
    for var_name in names {
        let var = env(container, var_name);
        assert!(var["value"].is_badvalue(), "{var_name} is not inline");
        let from = &var["valueFrom"]["secretKeyRef"];
        assert_eq!(from["name"].as_str(), Some(name(secret)), "{var_name}");
        let key = from["key"].as_str().expect("a key");
        assert!(
            !secret["stringData"][key].is_badvalue(),
            "the Secret has `{key}` for {var_name}"
        );
    }
}

/// Whether a setting of this name holds a secret.
fn is_secret_setting(name: &str) -> bool {
    [
        "PASSWORD",
        "SECRET",
        "DATABASE_URL",
        "REDIS_URL",
        "API_KEY",
        "TOKEN",
    ]
    .iter()
    .any(|word| name.contains(word))
}

#[test]
fn the_kubernetes_deployment_probes_drains_and_takes_its_secrets_from_a_secret() {
    let objects = manifests();
    let deployment = one(&objects, "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let containers = pod["containers"].as_vec().expect("containers");
    assert_eq!(containers.len(), 1);
    let hub = &containers[0];
    assert_eq!(hub["args"][0].as_str(), Some("serve"));

    // The probes: ready on /readyz, alive on /healthz, both on the port the hub listens on.
    assert_eq!(
        hub["readinessProbe"]["httpGet"]["path"].as_str(),
        Some(READY)
    );
    assert_eq!(
        hub["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    let port = hub["ports"]
        .as_vec()
        .expect("ports")
        .iter()
        .find(|port| port["name"].as_str() == Some("http"))
        .and_then(|port| port["containerPort"].as_i64())
        .expect("the port named http");
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        assert_eq!(
            hub[probe]["httpGet"]["port"].as_str(),
            Some("http"),
            "{probe}"
        );
    }
    let listen = env(hub, "SWITCHBOARD_LISTEN")["value"]
        .as_str()
        .expect("the hub's address");
    assert_eq!(listen, format!("0.0.0.0:{port}"));

    // The drain: the preStop hook waits for the endpoints to forget the pod, then the hub's
    // own graceful stop runs; the grace period covers both.
    let pre_stop = hub["lifecycle"]["preStop"]["exec"]["command"]
        .as_vec()
        .expect("a preStop hook");
    assert_eq!(pre_stop[0].as_str(), Some("sleep"));
    let pause: u64 = pre_stop[1]
        .as_str()
        .and_then(|seconds| seconds.parse().ok())
        .expect("seconds");
    assert!(pause >= 5, "{pause} s for the endpoints to drop the pod");
    let grace = pod["terminationGracePeriodSeconds"]
        .as_i64()
        .and_then(|seconds| u64::try_from(seconds).ok())
        .expect("a grace period");
    let stop = switchboard::longest_graceful_stop(&switchboard::Settings::default()).as_secs();
    assert!(
        grace >= pause + stop,
        "a grace of {grace} s cuts off a {pause} s pause and a stop of up to {stop} s"
    );

    // Unprivileged, with the image's fixed user.
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert!(read("Dockerfile").contains(&format!(
        "--uid {}",
        pod["securityContext"]["runAsUser"].as_i64().expect("a uid")
    )));

    // Secrets from the Secret, nothing secret inline: not in the pod, not in the ConfigMap.
    let secret = one(&objects, "Secret");
    takes_from_secret(
        hub,
        &secret,
        &[
            "SWITCHBOARD_DATABASE_URL",
            "SWITCHBOARD_REDIS_URL",
            "SWITCHBOARD_SECRET_KEY",
            "SWITCHBOARD_ADMIN_PASSWORD",
        ],
    );
    for var in hub["env"].as_vec().expect("an environment") {
        let var_name = var["name"].as_str().expect("a name");
        assert!(
            !is_secret_setting(var_name) || var["value"].is_badvalue(),
            "{var_name} is inline"
        );
    }
    let config = one(&objects, "ConfigMap");
    assert_eq!(
        hub["envFrom"][0]["configMapRef"]["name"].as_str(),
        Some(name(&config))
    );
    for (key, _) in config["data"].as_hash().expect("settings") {
        let key = key.as_str().expect("a setting");
        assert!(!is_secret_setting(key), "{key} belongs in the Secret");
    }
    // The Secret in the repository is an example that is never applied as it is.
    let kustomization = yaml("kubernetes/kustomization.yaml");
    let resources: Vec<&str> = kustomization["resources"]
        .as_vec()
        .expect("resources")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    let (secret_file, _) = objects
        .iter()
        .find(|(_, object)| object["kind"].as_str() == Some("Secret"))
        .expect("the Secret's file");
    assert!(secret_file.ends_with(".example.yaml"));
    assert!(!resources.iter().any(|file| secret_file.ends_with(file)));
}

#[test]
fn the_kubernetes_manifests_migrate_first_and_keep_pods_available_while_scaling() {
    let objects = manifests();
    let deployment = one(&objects, "Deployment");
    let template = &deployment["spec"]["template"];
    let pod_labels = &template["metadata"]["labels"];
    let hub = &template["spec"]["containers"][0];
    assert!(selects(
        &deployment["spec"]["selector"]["matchLabels"],
        pod_labels
    ));

    // The migration Job: `switchboard migrate` with the hub's image and the same secrets.
    let job = one(&objects, "Job");
    let migrate = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(migrate["args"][0].as_str(), Some("migrate"));
    assert_eq!(
        migrate["image"], hub["image"],
        "the release being rolled out"
    );
    let secret = one(&objects, "Secret");
    takes_from_secret(
        migrate,
        &secret,
        &["SWITCHBOARD_DATABASE_URL", "SWITCHBOARD_SECRET_KEY"],
    );
    assert!(
        !selects(
            &deployment["spec"]["selector"]["matchLabels"],
            &job["spec"]["template"]["metadata"]["labels"]
        ),
        "the Job's pod is not one of the hub's"
    );

    // The budget lets one pod go at a time, among the hub's pods.
    let budget = one(&objects, "PodDisruptionBudget");
    assert!(selects(
        &budget["spec"]["selector"]["matchLabels"],
        pod_labels
    ));
    assert_eq!(budget["spec"]["maxUnavailable"].as_i64(), Some(1));

    // The autoscaler scales this Deployment, never below two pods, by CPU against a request.
    let autoscaler = one(&objects, "HorizontalPodAutoscaler");
    let target = &autoscaler["spec"]["scaleTargetRef"];
    assert_eq!(target["kind"].as_str(), Some("Deployment"));
    assert_eq!(target["name"].as_str(), Some(name(&deployment)));
    let min = autoscaler["spec"]["minReplicas"]
        .as_i64()
        .expect("a minimum");
    assert!(min >= 2, "a pod stopping leaves others: {min}");
    assert!(autoscaler["spec"]["maxReplicas"].as_i64() > Some(min));
    assert_eq!(
        autoscaler["spec"]["metrics"][0]["resource"]["name"].as_str(),
        Some("cpu")
    );
    assert!(!hub["resources"]["requests"]["cpu"].is_badvalue());

    // The Service reaches the hub's pods on the port named http.
    let service = one(&objects, "Service");
    assert!(selects(&service["spec"]["selector"], pod_labels));
    assert_eq!(
        service["spec"]["ports"][0]["targetPort"].as_str(),
        Some("http")
    );
    assert!(
        service["spec"]["sessionAffinity"].is_badvalue(),
        "no stickiness needed"
    );

    // The attachments' volume is one claim every pod shares.
    let claim = one(&objects, "PersistentVolumeClaim");
    assert_eq!(
        claim["spec"]["accessModes"][0].as_str(),
        Some("ReadWriteMany")
    );
    let volumes = template["spec"]["volumes"].as_vec().expect("volumes");
    assert!(volumes.iter().any(|volume| {
        volume["persistentVolumeClaim"]["claimName"].as_str() == Some(name(&claim))
    }));

    // `kubectl apply -k` applies every manifest but the Job (applied and waited for first) and
    // the example Secret.
    let kustomization = yaml("kubernetes/kustomization.yaml");
    let mut listed: Vec<String> = kustomization["resources"]
        .as_vec()
        .expect("resources")
        .iter()
        .map(|file| format!("kubernetes/{}", file.as_str().expect("a file")))
        .collect();
    listed.sort();
    let mut expected: Vec<String> = objects
        .iter()
        .filter(|(_, object)| {
            !matches!(
                object["kind"].as_str(),
                Some("Job" | "Secret" | "Kustomization")
            )
        })
        .map(|(file, _)| file.clone())
        .collect();
    expected.sort();
    expected.dedup();
    assert_eq!(listed, expected);
}
