//! `deploy/`: the files an operator runs the hub with. No image can be built or pulled on the
//! project's machines, so these tests read the files: every YAML file parses, the compose file
//! runs two hub nodes on PostgreSQL and Redis behind nginx with readiness checks, the proxy
//! keeps WebSockets open past the hub's ping, and the image and the unit run unprivileged.

use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(deploy().join(name))
        .unwrap_or_else(|err| panic!("deploy/{name}: {err}"))
}

fn yaml(name: &str) -> Yaml {
    let mut documents = YamlLoader::load_from_str(&read(name))
        .unwrap_or_else(|err| panic!("deploy/{name} is not YAML: {err}"));
    assert_eq!(documents.len(), 1, "deploy/{name}: one document");
    documents.remove(0)
}

#[test]
fn every_yaml_file_in_deploy_parses() {
    let mut parsed = 0;
    for entry in std::fs::read_dir(deploy()).expect("deploy/ exists") {
        let name = entry
            .expect("an entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".yml") || name.ends_with(".yaml") {
            yaml(&name);
            parsed += 1;
        }
    }
    assert!(parsed >= 1, "deploy/ holds the compose file");
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
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit has {line}");
    }
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
