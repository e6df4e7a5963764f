#!/usr/bin/env python3
"""Times requests to hadome's API over one keep-alive connection (bench/api.sh).

    api-client.py ask URL N      # POST /v1/ask N times: p50, p99, max (ms), and how many answered
                                  # from the daemon's facts
    api-client.py get URL PATH N  # GET PATH N times: p50, p99, max (ms)
"""
import http.client
import json
import sys
import time
import urllib.parse


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main():
    mode, url = sys.argv[1], urllib.parse.urlparse(sys.argv[2])
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    times, fresh = [], 0
    if mode == "ask":
        count = int(sys.argv[3])
        body = json.dumps({"action": "rebuild", "target": "db-3", "from": "db-1"})
        for _ in range(count):
            start = time.perf_counter()
            connection.request("POST", "/v1/ask", body, {"content-type": "application/json"})
            response = connection.getresponse()
            answer = json.loads(response.read())
            times.append((time.perf_counter() - start) * 1000)
            if response.status != 200:
                sys.exit(f"ask answered {response.status}: {answer}")
            fresh += answer["facts"]["source"] == "daemon"
    else:
        path, count = sys.argv[3], int(sys.argv[4])
        for _ in range(count):
            start = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            times.append((time.perf_counter() - start) * 1000)
            if response.status != 200:
                sys.exit(f"{path} answered {response.status}")
    print(
        f"{len(times)} {percentile(times, 0.5):.3f} {percentile(times, 0.99):.3f} "
        f"{max(times):.3f} {fresh}"
    )


main()
