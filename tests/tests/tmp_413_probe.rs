use std::time::Duration;
use tollgate_tests::{http_client, Gateway, MockUpstream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe() {
    let mock = MockUpstream::start().await;
    let gateway = Gateway::with_upstream(&mock);
    let url = format!("{}/v1/messages", gateway.url());
    let big = vec![b'a'; 50 << 20];
    let (mut ok_cl, mut err_cl, mut ok_ch, mut err_ch) = (0, 0, 0, 0);
    for _ in 0..30 {
        let r = http_client()
            .post(&url)
            .body(big.clone())
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        match r {
            Ok(r) if r.status() == 413 => ok_cl += 1,
            Ok(r) => panic!("{}", r.status()),
            Err(e) => {
                err_cl += 1;
                eprintln!("cl: {e:?}");
            }
        }
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            big.chunks(1 << 20).map(|c| Ok(c.to_vec())).collect();
        let r = http_client()
            .post(&url)
            .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        match r {
            Ok(r) if r.status() == 413 => ok_ch += 1,
            Ok(r) => panic!("{}", r.status()),
            Err(e) => {
                err_ch += 1;
                eprintln!("ch: {e:?}");
            }
        }
    }
    eprintln!("content-length ok {ok_cl} err {err_cl}; chunked ok {ok_ch} err {err_ch}");
}
