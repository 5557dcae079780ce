"""The constants of the kernel's own exp and log (simcore/kernel/fmath.py), and, without
Numba, that exp over NumPy arrays (``exp_array``: the results writer's price table) and
that log in Python (``log_py``: a lognormal's mu from its median, in the scenario
compile).

Every constant is written out in hexadecimal: the float64 nearest a value computed in
exact decimal arithmetic (``derive``, 60 digits, the same on every platform; a test
computes them again and compares), a power of two, or a ratio of small integers. So
nothing here depends on the platform's math library. ``exp_array`` does, element by
element, the additions, multiplications and table look-ups of ``fmath._exp_edge`` (the
exp without fused multiply-adds) in the same order, and ``log_py`` those of
``fmath.log``: the same bits (tests/test_fmath.py compares them).
"""

from __future__ import annotations

import math

import numpy as np

EXP_N = 128  # exp's table: 2^(j / EXP_N), j = 0 .. EXP_N - 1
EXP_SHIFT = 6755399441055744.0  # 1.5 * 2^52: (z + EXP_SHIFT) - EXP_SHIFT rounds z to an integer
EXP_HI = 709.782712893384  # above: exp overflows (math.inf)
EXP_LO = -745.1332191019412  # below: exp underflows to 0.0
# p = e^r - 1 for |r| <= ln 2 / 256: its Taylor terms (r^6 / 720 < 5.5e-19 is dropped)
EXP_C3 = 1.0 / 6.0
EXP_C4 = 1.0 / 24.0
EXP_C5 = 1.0 / 120.0
TWO_M64 = 2.0**-64
SQRT_HALF = 0.7071067811865476  # float64 nearest sqrt(1/2); log's reduction splits there
# log(1 + f) = 2 atanh(s), s = f / (2 + f), |s| <= 0.1716: R = sum_i 2 s^(2i) / (2i + 1),
# i = 1 .. 10 (the next term, relative to the result, is below 1e-18)
LOG_TERMS = tuple(2.0 / (2 * i + 1) for i in range(1, 11))
HALF_LOG_2PI = 0.9189385332046728  # log(2 pi) / 2 (derive)
SQRT_PI = 1.772453850905516  # sqrt(pi) (derive)
LGAMMA_SHIFT = 10.0  # lgamma recurs up to here, then Stirling's series
ERF_SERIES_BELOW = 1.5  # erfc: the series of erf below, the continued fraction above
ERF_SERIES_TERMS = 25
ERFC_FRACTION_TERMS = 50
ERFC_ZERO_ABOVE = 30.0  # erfc(30) = 2.6e-393: 0 in float64

# x * EXP_N / ln 2; ln 2 / EXP_N in two parts, the first of 34 bits (k * it is exact for
# |k| < 2^19); ln 2 in two parts, the first of 42 bits (for |k| < 2^11)
_T_HI = """
0x1.0000000000000p+0 0x1.0163da9fb3335p+0 0x1.02c9a3e778061p+0 0x1.04315e86e7f85p+0
0x1.059b0d3158574p+0 0x1.0706b29ddf6dep+0 0x1.0874518759bc8p+0 0x1.09e3ecac6f383p+0
0x1.0b5586cf9890fp+0 0x1.0cc922b7247f7p+0 0x1.0e3ec32d3d1a2p+0 0x1.0fb66affed31bp+0
0x1.11301d0125b51p+0 0x1.12abdc06c31ccp+0 0x1.1429aaea92de0p+0 0x1.15a98c8a58e51p+0
0x1.172b83c7d517bp+0 0x1.18af9388c8deap+0 0x1.1a35beb6fcb75p+0 0x1.1bbe084045cd4p+0
0x1.1d4873168b9aap+0 0x1.1ed5022fcd91dp+0 0x1.2063b88628cd6p+0 0x1.21f49917ddc96p+0
0x1.2387a6e756238p+0 0x1.251ce4fb2a63fp+0 0x1.26b4565e27cddp+0 0x1.284dfe1f56381p+0
0x1.29e9df51fdee1p+0 0x1.2b87fd0dad990p+0 0x1.2d285a6e4030bp+0 0x1.2ecafa93e2f56p+0
0x1.306fe0a31b715p+0 0x1.32170fc4cd831p+0 0x1.33c08b26416ffp+0 0x1.356c55f929ff1p+0
0x1.371a7373aa9cbp+0 0x1.38cae6d05d866p+0 0x1.3a7db34e59ff7p+0 0x1.3c32dc313a8e5p+0
0x1.3dea64c123422p+0 0x1.3fa4504ac801cp+0 0x1.4160a21f72e2ap+0 0x1.431f5d950a897p+0
0x1.44e086061892dp+0 0x1.46a41ed1d0057p+0 0x1.486a2b5c13cd0p+0 0x1.4a32af0d7d3dep+0
0x1.4bfdad5362a27p+0 0x1.4dcb299fddd0dp+0 0x1.4f9b2769d2ca7p+0 0x1.516daa2cf6642p+0
0x1.5342b569d4f82p+0 0x1.551a4ca5d920fp+0 0x1.56f4736b527dap+0 0x1.58d12d497c7fdp+0
0x1.5ab07dd485429p+0 0x1.5c9268a5946b7p+0 0x1.5e76f15ad2148p+0 0x1.605e1b976dc09p+0
0x1.6247eb03a5585p+0 0x1.6434634ccc320p+0 0x1.6623882552225p+0 0x1.68155d44ca973p+0
0x1.6a09e667f3bcdp+0 0x1.6c012750bdabfp+0 0x1.6dfb23c651a2fp+0 0x1.6ff7df9519484p+0
0x1.71f75e8ec5f74p+0 0x1.73f9a48a58174p+0 0x1.75feb564267c9p+0 0x1.780694fde5d3fp+0
0x1.7a11473eb0187p+0 0x1.7c1ed0130c132p+0 0x1.7e2f336cf4e62p+0 0x1.80427543e1a12p+0
0x1.82589994cce13p+0 0x1.8471a4623c7adp+0 0x1.868d99b4492edp+0 0x1.88ac7d98a6699p+0
0x1.8ace5422aa0dbp+0 0x1.8cf3216b5448cp+0 0x1.8f1ae99157736p+0 0x1.9145b0b91ffc6p+0
0x1.93737b0cdc5e5p+0 0x1.95a44cbc8520fp+0 0x1.97d829fde4e50p+0 0x1.9a0f170ca07bap+0
0x1.9c49182a3f090p+0 0x1.9e86319e32323p+0 0x1.a0c667b5de565p+0 0x1.a309bec4a2d33p+0
0x1.a5503b23e255dp+0 0x1.a799e1330b358p+0 0x1.a9e6b5579fdbfp+0 0x1.ac36bbfd3f37ap+0
0x1.ae89f995ad3adp+0 0x1.b0e07298db666p+0 0x1.b33a2b84f15fbp+0 0x1.b59728de5593ap+0
0x1.b7f76f2fb5e47p+0 0x1.ba5b030a1064ap+0 0x1.bcc1e904bc1d2p+0 0x1.bf2c25bd71e09p+0
0x1.c199bdd85529cp+0 0x1.c40ab5fffd07ap+0 0x1.c67f12e57d14bp+0 0x1.c8f6d9406e7b5p+0
0x1.cb720dcef9069p+0 0x1.cdf0b555dc3fap+0 0x1.d072d4a07897cp+0 0x1.d2f87080d89f2p+0
0x1.d5818dcfba487p+0 0x1.d80e316c98398p+0 0x1.da9e603db3285p+0 0x1.dd321f301b460p+0
0x1.dfc97337b9b5fp+0 0x1.e264614f5a129p+0 0x1.e502ee78b3ff6p+0 0x1.e7a51fbc74c83p+0
0x1.ea4afa2a490dap+0 0x1.ecf482d8e67f1p+0 0x1.efa1bee615a27p+0 0x1.f252b376bba97p+0
0x1.f50765b6e4540p+0 0x1.f7bfdad9cbe14p+0 0x1.fa7c1819e90d8p+0 0x1.fd3c22b8f71f1p+0
"""
_T_LO = """
0x0.0p+0 0x1.b61299ab8cdb7p-54 -0x1.19083535b085dp-56 -0x1.0a31c1977c96ep-54
0x1.d73e2a475b465p-55 -0x1.c91dfe2b13c27p-55 0x1.186be4bb284ffp-57
0x1.1487818316136p-54 0x1.8a62e4adc610bp-54 0x1.01edc16e24f71p-54
0x1.03a1727c57b53p-59 -0x1.b9bedc44ebd7bp-57 -0x1.6c51039449b3ap-54
-0x1.1b514b36ca5c7p-58 -0x1.32fbf9af1369ep-54 0x1.2406ab9eeab0ap-55
-0x1.19041b9d78a76p-55 -0x1.11023d1970f6cp-54 0x1.e5b4c7b4968e4p-55
-0x1.95386352ef607p-54 0x1.e016e00a2643cp-54 -0x1.1df98027bb78cp-54
0x1.dc775814a8495p-55 0x1.2a97e9494a5eep-55 0x1.9b07eb6c70573p-54
0x1.ac155bef4f4a4p-55 0x1.2bd339940e9d9p-55 -0x1.a4c3a8c3f0d7ep-54
0x1.612e8afad1255p-55 -0x1.10adcd6381aa4p-59 0x1.0024754db41d5p-54
0x1.1ca0f45d52383p-56 0x1.6f46ad23182e4p-55 0x1.a9ce78e18047cp-55
0x1.32721843659a6p-54 -0x1.b5cee5c4e4628p-55 -0x1.63aeabf42eae2p-54
-0x1.e958d3c9904bdp-54 -0x1.5e436d661f5e3p-56 -0x1.efff8375d29c3p-54
0x1.ada0911f09ebcp-55 -0x1.7d023f956f9f3p-54 -0x1.ef3691c309278p-58
-0x1.1c7dde35f7999p-55 0x1.89b7a04ef80d0p-59 0x1.c944bd1648a76p-54
0x1.3c1a3b69062f0p-56 0x1.9cb62f3d1be56p-54 0x1.d4397afec42e2p-56
0x1.8ecdbbc6a7833p-54 -0x1.4b309d25957e3p-54 -0x1.f768569bd93efp-55
-0x1.07abe1db13cadp-55 -0x1.d689cefede59bp-55 0x1.9bb2c011d93adp-54
0x1.295e15b9a1de8p-55 0x1.6324c054647adp-54 0x1.c4b1b816986a2p-60
0x1.ba6f93080e65ep-54 -0x1.3e2429b56de47p-54 -0x1.383c17e40b497p-54
-0x1.c483c759d8933p-55 -0x1.bb60987591c34p-54 0x1.038ae44f73e65p-57
-0x1.bdd3413b26456p-54 -0x1.2895667ff0b0dp-56 -0x1.bbe3a683c88abp-57
-0x1.83c0f25860ef6p-55 -0x1.16e4786887a99p-55 -0x1.0a8d96c65d53cp-54
-0x1.0245957316dd3p-54 0x1.866b80a02162dp-54 -0x1.41577ee04992fp-55
0x1.f124cd1164dd6p-54 0x1.05d02ba15797ep-56 -0x1.27c86626d972bp-54
-0x1.d4c1dd41532d8p-54 -0x1.8d684a341cdfbp-55 -0x1.fc6f89bd4f6bap-54
0x1.994c2f37cb53ap-54 0x1.6e9f156864b27p-54 -0x1.0d55e32e9e3aap-56
0x1.5cc13a2e3976cp-55 -0x1.dd6792e582524p-54 -0x1.75fc781b57ebcp-57
-0x1.64b7c96a5f039p-56 -0x1.d185b7c1b85d1p-54 -0x1.173bd91cee632p-54
0x1.c7c46b071f2bep-56 0x1.824ca78e64c6ep-56 -0x1.359495d1cd533p-54
0x1.6305c7ddc36abp-54 -0x1.d2f6edb8d41e1p-54 0x1.bcb7ecac563c7p-54
0x1.0fac90ef7fd31p-54 -0x1.f9234cae76cd0p-55 0x1.7a1cd345dcc81p-54
-0x1.bdef54c80e425p-54 -0x1.2805e3084d708p-57 -0x1.c71dfbbba6de3p-54
-0x1.5584f7e54ac3bp-56 -0x1.efcd30e54292ep-54 0x1.23dd07a2d9e84p-55
-0x1.efdca3f6b9c73p-54 0x1.11065895048ddp-55 0x1.b4537e083c60ap-54
0x1.2884dff483cadp-54 0x1.1acbc48805c44p-56 0x1.503cbd1e949dbp-56
-0x1.dd83b53829d72p-55 -0x1.cbc3743797a9cp-54 -0x1.d487b719d8578p-54
0x1.2ed02d75b3707p-55 -0x1.11ec18beddfe8p-54 0x1.c2300696db532p-54
0x1.2da5778f018c3p-54 -0x1.1a5cd4f184b5cp-54 -0x1.7b627817a1496p-54
0x1.39e8980a9cc8fp-55 0x1.2d522ca0c8de2p-54 -0x1.e9c23179c2893p-54
-0x1.c93f3b411ad8cp-54 0x1.dc7f486a4b6b0p-54 0x1.3a1a5bf0d8e43p-54
0x1.9d3e12dd8a18bp-54 -0x1.dbb12d006350ap-54 0x1.74853f3a5931ep-55
0x1.2eb74966579e7p-57
"""
_TAIL = """
0x0.0p+0 0x1.b3b4f1a88bf6ep-54 -0x1.160139cd8dc5dp-56 -0x1.05e7a108766d1p-54
0x1.cd2523567f613p-55 -0x1.bce8023f98efap-55 0x1.0f74e61e6c861p-57
0x1.0a3e45b33d399p-54 0x1.79aa65d837b6dp-54 0x1.eb51a92fdeffcp-55
0x1.ebe3d702f9cd1p-60 -0x1.a033489906e0bp-57 -0x1.556522a2fbd0ep-54
-0x1.080ef8c4eea55p-58 -0x1.1c923b9d5f416p-54 0x1.0d3e3e95c55afp-55
-0x1.01b15eaa59348p-55 -0x1.f1ff055de323dp-55 0x1.b898c3f1353bfp-55
-0x1.6d99c7611eb26p-54 0x1.aecf73e3a2f60p-54 -0x1.fe782cb86389dp-55
0x1.a6f4144a6c38dp-55 0x1.07a05b0e4047dp-55 0x1.68efde3a8a894p-54
0x1.75e18f274487dp-55 0x1.0472b981fe7f2p-55 -0x1.6b87b3f71085ep-54
0x1.2f7e16d09ab31p-55 -0x1.d219b1a6fbffap-60 0x1.b3782720c0ab4p-55
0x1.e149289cecb8fp-57 0x1.34d754db0abb6p-55 0x1.64201e2ac744cp-55
0x1.fdd395dd3f84ap-55 -0x1.6a3803b8e5b04p-55 -0x1.24aedcc4b5068p-54
-0x1.907f81b512d8ep-54 -0x1.1d1e83e9436d2p-56 -0x1.91919b3ce1b15p-54
0x1.59f48a72a4c6dp-55 -0x1.312607a28698ap-54 -0x1.8a78f4817895bp-58
-0x1.c2c9b67499a1bp-56 0x1.363ed60c2ac11p-59 0x1.666093b0664efp-54
0x1.ecce1daa10379p-57 0x1.3ff8e3f0f1230p-54 0x1.690cebb7aafb0p-56
0x1.31dbdeb54e077p-54 -0x1.f94340071a38ep-55 -0x1.7deccdc93a349p-55
-0x1.8dec6bd0f385fp-56 -0x1.61246ec7b5cf6p-55 0x1.3350518fdd78ep-54
0x1.b98b72f8a9b05p-56 0x1.063e1e21c5409p-54 0x1.4c7855019c6eap-60
0x1.432e62b64c035p-54 -0x1.ce44a6199769fp-55 -0x1.c33c53bef4da8p-55
-0x1.45378892be9aep-55 -0x1.3cedd78565858p-54 0x1.710aa807e1964p-58
-0x1.3b3efbf5e2228p-54 -0x1.a12ad8734b982p-57 -0x1.367efb86da9eep-57
-0x1.0dc3d54e08851p-55 -0x1.81f647e5a3ecfp-56 -0x1.6ee4ac08b7db0p-55
-0x1.619321e55e68ap-55 0x1.09ccb5e09d4d3p-54 -0x1.b32dcb94da51dp-56
0x1.4ecfd5467c06bp-54 0x1.5ebe1abd66c55p-57 -0x1.8a1c52fb3cf42p-55
-0x1.369b6f13b3734p-54 -0x1.05e843a19ff1ep-55 -0x1.4d450d872576ep-54
0x1.0ad675b0e8a00p-54 0x1.db72fc1f0eab4p-55 -0x1.5b6609cc5e7ffp-57
0x1.bf68359f35f44p-56 -0x1.3091fa71e3d83p-54 -0x1.da9b88b6c1e29p-58
-0x1.c23f97c90b959p-57 -0x1.2434322f4f9aap-54 -0x1.5ca6cd7668e4bp-55
0x1.1affc2b91ce27p-56 0x1.dd235e10a73bbp-57 -0x1.7c50422622263p-55
0x1.b1c86e3e231d5p-55 -0x1.1bbd1d3bcbb15p-54 0x1.0cc319cee31d2p-54
0x1.469846e735ab3p-55 -0x1.2dfcd978e9db4p-55 0x1.c1a7792cb3387p-55
-0x1.07b8f4ad1d9fap-54 -0x1.5c3d956dcaebap-58 -0x1.0a40e3da6f640p-54
-0x1.8d6f438ad9334p-57 -0x1.1eee26b588a35p-54 0x1.4ffd70a5fddcdp-56
-0x1.1bdfbfa9298acp-54 0x1.36eae30af0cb3p-56 0x1.ee3325c9ffd94p-55
0x1.4e08fd10959acp-55 0x1.3cdaf384e1a67p-57 0x1.76b2c6c921968p-57
-0x1.08a1883ccb5d2p-55 -0x1.fad5d3ffffa6fp-55 -0x1.00dae3875a949p-54
0x1.4a385a63d07a7p-56 -0x1.2919e2040220fp-55 0x1.e5a50d5c192acp-55
0x1.43a59ac016b4bp-55 -0x1.2d52107b43e1fp-55 -0x1.92ab93b470dc9p-55
0x1.4b604603a88d3p-56 0x1.3c5ec519d7271p-55 -0x1.ff7128fd391f0p-55
-0x1.dae98e223747dp-55 0x1.ec3bc41aa2008p-55 0x1.42b94c3a9eb32p-55
0x1.a64a931d185eep-55 -0x1.e37bae43be3edp-55 0x1.7893b4d91cd9dp-56
0x1.305c14160cc89p-58
"""
EXP_INV_LN2_N = float.fromhex("0x1.71547652b82fep+7")
EXP_LN2_HI_N = float.fromhex("0x1.62e42fef80000p-8")
EXP_LN2_LO_N = float.fromhex("0x1.1cf79abc9e3b4p-43")
LN2_HI = float.fromhex("0x1.62e42fefa3800p-1")
LN2_LO = float.fromhex("0x1.ef35793c76730p-45")

EXP_T_HI = np.array([float.fromhex(v) for v in _T_HI.split()])  # 2^(j / EXP_N), rounded
EXP_T_LO = np.array([float.fromhex(v) for v in _T_LO.split()])  # 2^(j / EXP_N) - EXP_T_HI[j]
EXP_TAIL = np.array([float.fromhex(v) for v in _TAIL.split()])  # that / EXP_T_HI[j]
# EXP_T_HI[j]'s bits less j / EXP_N's share of the exponent field (j << 45): adding
# (k EXP_N + j) << 45 gives 2^k EXP_T_HI[j]'s
EXP_SBITS = EXP_T_HI.view(np.uint64) - (np.arange(EXP_N, dtype=np.uint64) << np.uint64(45))
POW2 = np.ldexp(1.0, np.arange(-1022, 1024))  # POW2[k + 1022] = 2^k (exact)
for _a in (EXP_T_HI, EXP_T_LO, EXP_TAIL, EXP_SBITS, POW2):
    _a.flags.writeable = False


def exp_array(x) -> np.ndarray:
    """e^x of every element of ``x`` (float64) as ``fmath._exp_edge`` computes it (no
    fused multiply-adds, which NumPy does not have): the same bits, on every platform."""
    x = np.asarray(x, dtype=np.float64)
    inside = (x >= EXP_LO) & (x <= EXP_HI)
    xs = np.where(inside, x, 0.0)
    z = xs * EXP_INV_LN2_N
    kd = (z + EXP_SHIFT) - EXP_SHIFT
    r = (xs - kd * EXP_LN2_HI_N) - kd * EXP_LN2_LO_N
    ki = kd.astype(np.int64)
    j = ki & (EXP_N - 1)
    k = ki >> 7
    p = r + r * r * (0.5 + r * (EXP_C3 + r * (EXP_C4 + r * EXP_C5)))
    t = EXP_T_HI[j]
    s = t + (t * p + EXP_T_LO[j])
    low, high = k < -1022, k > 1023
    mid = ~(low | high)
    out = np.empty_like(s)
    out[mid] = s[mid] * POW2[k[mid] + 1022]
    out[low] = (s[low] * POW2[k[low] + 1022 + 64]) * TWO_M64
    out[high] = (s[high] * 2.0) * POW2[k[high] - 1 + 1022]
    out = np.where(inside, out, np.where(x > EXP_HI, np.inf, 0.0))
    return np.where(np.isnan(x), x, out)


def log_py(x: float) -> float:
    """``fmath.log`` in Python's floats (IEEE 754 doubles; its reduction by
    ``math.frexp``, exact), the same bits: for the scenario's constants that feed the
    kernel (a lognormal's mu from its median)."""
    x = float(x)
    if not x > 0.0:
        return -math.inf if x == 0.0 else math.nan
    if x == math.inf:
        return x
    m, e = math.frexp(x)  # x = m 2^e, 0.5 <= m < 1
    m, e = m * 2.0, e - 1  # in [1, 2)
    if m >= 2.0 * SQRT_HALF:
        m, e = m * 0.5, e + 1
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    c1, c2, c3, c4, c5, c6, c7, c8, c9, c10 = LOG_TERMS
    r = z * (c1 + z * (c2 + z * (c3 + z * (c4 + z * (c5 + z * (c6 + z * (
        c7 + z * (c8 + z * (c9 + z * c10)))))))))
    hfsq = 0.5 * f * f
    dk = float(e)
    return dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f)


def _split(value, bits: int) -> tuple[float, float]:
    """(hi, lo): hi holds the leading ``bits`` bits of ``value`` > 0, lo the float64
    nearest the rest."""
    e = 0
    while value * 2**e < 2 ** (bits - 1):
        e += 1
    while value * 2**e >= 2**bits:
        e -= 1
    whole = int(value * 2**e)  # truncated: < 2^bits
    return math.ldexp(float(whole), -e), float(value - type(value)(whole) / 2**e)


def _pi():
    """pi to the decimal context's precision (Machin's formula)."""
    from decimal import Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec += 5

        def arctan_inv(n: int) -> Decimal:
            x = Decimal(1) / n
            total, term, k = x, x, 1
            while True:
                term *= -x * x
                add = term / (2 * k + 1)
                if add + total == total:
                    return total
                total += add
                k += 1

        pi = 4 * (4 * arctan_inv(5) - arctan_inv(239))
    return +pi


def derive() -> dict:
    """The constants written out above, computed again in 60-digit decimal arithmetic."""
    from decimal import Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec = 60
        ln2 = Decimal(2).ln()
        hi_n, lo_n = _split(ln2 / EXP_N, 34)
        hi, lo = _split(ln2, 42)
        t = [(ln2 * j / EXP_N).exp() for j in range(EXP_N)]
        return {
            "EXP_INV_LN2_N": float(Decimal(EXP_N) / ln2),
            "EXP_LN2_HI_N": hi_n, "EXP_LN2_LO_N": lo_n, "LN2_HI": hi, "LN2_LO": lo,
            "EXP_T_HI": [float(v) for v in t],
            "EXP_T_LO": [float(v - Decimal(float(v))) for v in t],
            "EXP_TAIL": [float((v - Decimal(float(v))) / Decimal(float(v))) for v in t],
            "HALF_LOG_2PI": float((2 * _pi()).ln() / 2),
            "SQRT_PI": float(_pi().sqrt()),
            "SQRT_HALF": float(Decimal(0.5).sqrt()),
            "EXP_HI": float(Decimal(2 - Decimal(2) ** -52).ln() + 1023 * ln2),
        }
