"""Labels of the bench pages."""

LABELS: dict[str, tuple[str, str]] = {
    "bench.title": ("Benchmarks", "基准测试"),
    "bench.intro": (
        "Saved benchmark runs of the planner, read from",
        "规划器已保存的基准测试结果，读取自",
    ),
    "bench.empty.title": ("No benchmark has been run yet.", "尚未运行任何基准测试。"),
    "bench.empty.body": (
        "Runs appear here once they are saved. From the source folder, run:",
        "测试结果保存后会显示在这里。请在源码目录中运行：",
    ),
    "bench.empty.speed": (
        "speed tier: every preset timed, scores checked against the previous run",
        "速度测试：逐个预设计时，并与上次结果比较得分",
    ),
    "bench.empty.quality": (
        "quality study: gap to the bound over presets, seeds and time limits, with plots",
        "质量研究：不同预设、随机种子和时间上限下与下界的差距，并生成图表",
    ),
    "bench.empty.scaling": (
        "scaling study: time and memory from 1,000 to 100,000 batches",
        "规模研究：从 1,000 到 100,000 个批次的时间和内存",
    ),
    "bench.empty.quick": (
        "or start a quick benchmark below (about {limit} s).",
        "或在下方启动快速基准测试（约 {limit} 秒）。",
    ),
    "bench.bad_files": (
        "Some files could not be read and were skipped:",
        "以下文件无法读取，已跳过：",
    ),
    # quick benchmark
    "bench.quick.title": ("Quick benchmark", "快速基准测试"),
    "bench.quick.intro": (
        "Generates the “{preset}” preset, then runs the greedy baseline, the lower bound and "
        "the optimiser with a {limit} s time limit, in a separate process. It takes a few "
        "seconds longer than the limit; the result is saved and listed below.",
        "生成“{preset}”预设实例，然后在独立进程中运行贪心基线、下界计算和优化器"
        "（时间上限 {limit} 秒）。总耗时比上限多几秒，结果会保存并列在下方。",
    ),
    "bench.quick.start": ("Start quick benchmark", "开始快速基准测试"),
    "bench.quick.running": (
        "A quick benchmark is running (started by {user} at {at}).",
        "快速基准测试正在运行（由 {user} 于 {at} 启动）。",
    ),
    "bench.quick.started": ("Quick benchmark started.", "快速基准测试已启动。"),
    "bench.quick.already": (
        "A quick benchmark is already running; this is that one.",
        "已有一个快速基准测试正在运行，下面显示的就是它。",
    ),
    "bench.quick.failed": ("The last quick benchmark failed:", "上次快速基准测试失败："),
    "bench.quick.none": ("No quick benchmark saved yet.", "尚未保存快速基准测试结果。"),
    "bench.quick.latest": ("Latest quick benchmark, {at}", "最近一次快速基准测试（{at}）"),
    "bench.quick.history": ("Saved quick benchmarks", "已保存的快速基准测试"),
    "bench.quick.total": ("Total time", "总耗时"),
    "bench.phase.generate": ("generating the instance", "生成实例"),
    "bench.phase.greedy": ("greedy baseline", "贪心基线"),
    "bench.phase.bound": ("lower bound", "计算下界"),
    "bench.phase.optimise": ("optimiser", "优化器"),
    "bench.phase.save": ("saving the result", "保存结果"),
    "bench.status.optimal": ("optimal", "最优"),
    "bench.status.feasible": ("feasible", "可行"),
    "bench.status.time_limit": ("stopped at the time limit", "达到时间上限"),
    "bench.invalid": ("invalid plan", "计划无效"),
    # columns
    "bench.col.date": ("Date", "日期"),
    "bench.col.machine": ("Machine", "机器"),
    "bench.col.commit": ("Commit", "代码版本"),
    "bench.col.file": ("File", "文件"),
    "bench.col.benchmark": ("Benchmark", "测试项"),
    "bench.col.mean": ("Mean time", "平均时间"),
    "bench.col.rounds": ("Rounds", "轮数"),
    "bench.col.score": ("Score", "得分"),
    "bench.col.greedy": ("Greedy", "贪心得分"),
    "bench.col.bound": ("Bound", "下界"),
    "bench.col.gap": ("Gap", "差距"),
    "bench.col.improvement": ("Better than greedy", "较贪心改进"),
    "bench.col.closed": ("Gap closed", "差距缩小"),
    "bench.col.mean_change": ("Time vs previous", "时间较上次"),
    "bench.col.score_change": ("Score vs previous", "得分较上次"),
    "bench.col.preset": ("Preset", "预设"),
    "bench.col.seed": ("Seed", "种子"),
    "bench.col.limit": ("Time limit", "时间上限"),
    "bench.col.batches": ("Batches", "批次数"),
    "bench.col.labs": ("Labs", "实验室数"),
    "bench.col.first_plan": ("First plan", "首个计划"),
    "bench.col.solve": ("Solve", "求解"),
    "bench.col.peak": ("Peak memory", "峰值内存"),
    "bench.col.method": ("Bound method", "下界方法"),
    "bench.col.status": ("Status", "状态"),
    "bench.col.generate": ("Generate", "生成"),
    "bench.col.optimise": ("Optimiser", "优化器"),
    "bench.col.json": ("JSON", "JSON"),
    # speed runs
    "bench.speed.title": ("Speed runs (make bench)", "速度测试（make bench）"),
    "bench.speed.none": ("No speed run has been saved yet. Run:", "尚未保存速度测试结果。请运行："),
    "bench.speed.shown": (
        "The newest {shown} of {total} saved runs.",
        "显示最近 {shown} 次，共 {total} 次。",
    ),
    "bench.speed.hint": (
        "Changes against the machine's previous run; over 10 % worse is marked, as make bench "
        "fails on it.",
        "与同一机器上一次运行相比；变差超过 10% 的已标出（make bench 会因此失败）。",
    ),
    "bench.speed.cases": ("{n} benchmarks", "{n} 个测试项"),
    "bench.uncommitted": ("uncommitted changes", "含未提交修改"),
    "bench.cpus": ("{n} CPUs", "{n} 核"),
    # studies
    "bench.study.quality": ("Quality study (make bench-quality)", "质量研究（make bench-quality）"),
    "bench.study.scaling": ("Scaling study (make bench-scaling)", "规模研究（make bench-scaling）"),
    "bench.study.none": ("Not run yet. Run:", "尚未运行。请运行："),
    "bench.study.at": ("Run at {at}", "运行于 {at}"),
    "bench.study.from_csv": (
        "(from {file}; index.json is missing)",
        "（来自 {file}，缺少 index.json）",
    ),
    "bench.study.earlier": ("Earlier runs:", "更早的运行："),
    "bench.study.failed": ("failed: {error}", "失败：{error}"),
    "bench.study.exponents": (
        "Fitted growth exponents (least squares on log-log)",
        "拟合增长指数（对数坐标最小二乘）",
    ),
    "bench.study.grows": ("grows as batches^{e}", "随批次数的 {e} 次方增长"),
    "bench.exp.first_plan": ("Time to the first valid plan", "首个可行计划用时"),
    "bench.exp.flow": ("Bound (flow) time", "下界（流）用时"),
    "bench.exp.network": ("Network build time", "网络构建用时"),
    "bench.exp.peak_rss_mb": ("Peak memory", "峰值内存"),
    "bench.download": ("Download the tables:", "下载表格："),
    # plots
    "bench.plots.other": ("Other plots", "其他图表"),
    "bench.plot.gap_vs_time": (
        "Gap to the bound against the time limit",
        "与下界的差距随时间上限的变化",
    ),
    "bench.plot.ontime": ("Tubes on time per preset", "各预设按时出结果的样本管比例"),
    "bench.plot.time_vs_batches": ("Solve time against batches", "求解时间随批次数的变化"),
    # units
    "bench.unit.s": ("s", "秒"),
    "bench.unit.ms": ("ms", "毫秒"),
    "bench.unit.mb": ("MB", "MB"),
}
