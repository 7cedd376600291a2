// The standard indicator library's entry point.
#include "indicators.hpp"

QFLOW_PLUGIN("qflow-indicators", "0.1.0", [](qflow::Registrar& r) {
  qflow::nodes::register_sma(r);
  qflow::nodes::register_ema(r);
  qflow::nodes::register_rsi(r);
  qflow::nodes::register_wma(r);
  qflow::nodes::register_stddev(r);
  qflow::nodes::register_bbands(r);
  qflow::nodes::register_macd(r);
  qflow::nodes::register_atr(r);
  qflow::nodes::register_adx(r);
  qflow::nodes::register_vwap(r);
  qflow::nodes::register_log_return(r);
  qflow::nodes::register_volatility(r);
  qflow::nodes::register_zscore(r);
  qflow::nodes::register_trend_strength(r);
  qflow::nodes::register_trade_imbalance(r);
  qflow::nodes::register_vol_regime(r);
  qflow::nodes::register_obv(r);
  qflow::nodes::register_cci(r);
  qflow::nodes::register_stoch(r);
  qflow::nodes::register_willr(r);
  qflow::nodes::register_mfi(r);
  qflow::nodes::register_linreg_slope(r);
  qflow::nodes::register_donchian(r);
})
