//! Run report: a time series of the run plus its summary, written as HTML or JSON.
