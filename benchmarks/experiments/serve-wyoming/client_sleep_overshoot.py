import asyncio, time, json
async def main():
    out = []
    for _ in range(20):
        t0 = time.perf_counter()
        for _ in range(100):
            await asyncio.sleep(0.064)
        out.append((time.perf_counter() - t0 - 6.4) / 100 * 1000)
    out.sort()
    print(json.dumps({"overshoot_ms_per_chunk": {"min": round(out[0],3), "p50": round(out[len(out)//2],3), "max": round(out[-1],3)}}))
asyncio.run(main())
