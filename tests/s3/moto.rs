//! A real S3-compatible server for the tests: moto's server from the venv
//! `make test` installs (`target/venv-moto`), on a free loopback port,
//! killed when the handle drops; plus the few raw S3 calls the tests need
//! that the object_store client does not offer (create a bucket, list
//! open multipart uploads) and an object_store client to read back.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

/// The secret key the tests give the binary; it must never be printed.
pub const SECRET_KEY: &str = "s3cr3t-K3Y-n0t-f0r-pr1nt1ng-9a7f";
pub const KEY_ID: &str = "AKIATESTORGSYNC";
pub const BUCKET: &str = "exports";

/// Objects by key (relative to a prefix).
pub type Objects = BTreeMap<String, Vec<u8>>;

pub struct Moto {
    child: Child,
    pub port: u16,
    runtime: tokio::runtime::Runtime,
    store: Arc<dyn ObjectStore>,
}

fn moto_server() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/venv-moto/bin/moto_server")
}

impl Moto {
    /// Starts moto on a free loopback port with one bucket, [`BUCKET`].
    pub fn start() -> Moto {
        let bin = moto_server();
        assert!(
            bin.exists(),
            "{} is missing: the S3 tests need moto's server; run `make test` (or `make moto`), which installs it \
             into target/venv-moto",
            bin.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = AmazonS3Builder::new()
            .with_endpoint(format!("http://127.0.0.1:{port}"))
            .with_bucket_name(BUCKET)
            .with_region("us-east-1")
            .with_access_key_id(KEY_ID)
            .with_secret_access_key(SECRET_KEY)
            .with_allow_http(true)
            .build()
            .expect("a test client");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let moto = Moto {
            child,
            port,
            runtime,
            store: Arc::new(store),
        };
        let (status, body) = moto.raw("PUT", &format!("/{BUCKET}"));
        assert_eq!(status, 200, "create bucket: {body}");
        moto
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a run against this server gets.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", KEY_ID.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
        ]
    }

    /// One unsigned request (moto does not check signatures); status and body.
    pub fn raw(&self, method: &str, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// Multipart uploads still open in the bucket.
    pub fn open_uploads(&self) -> usize {
        let (status, body) = self.raw("GET", &format!("/{BUCKET}?uploads"));
        assert_eq!(status, 200, "{body}");
        body.matches("<UploadId>").count()
    }

    /// Every object under `prefix`: key (relative to the prefix) to bytes.
    pub fn objects(&self, prefix: &str) -> BTreeMap<String, Vec<u8>> {
        let store = self.store.clone();
        let prefix = ObjectPath::from(prefix);
        self.runtime.block_on(async move {
            let metas: Vec<_> = store.list(Some(&prefix)).try_collect().await.expect("list");
            let mut out = BTreeMap::new();
            for m in metas {
                let bytes = store.get(&m.location).await.unwrap().bytes().await.unwrap();
                let rel = m.location.as_ref()[prefix.as_ref().len() + 1..].to_string();
                out.insert(rel, bytes.to_vec());
            }
            out
        })
    }

    /// Writes an object (the tests' stand-in for another run).
    pub fn put(&self, key: &str, body: &[u8]) {
        let store = self.store.clone();
        let key = ObjectPath::from(key);
        let body = body.to_vec();
        self.runtime
            .block_on(async move { store.put(&key, body.into()).await })
            .expect("put");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
